import pickle

import pytest
import torch

from contextfill.model.checkpoint import FORMAT_VERSION, load_checkpoint, load_model, save_checkpoint
from contextfill.model.errors import InpaintError


class Evil:
    def __reduce__(self):
        return (print, ("owned",))


def test_inference_model_is_half_precision_and_loads_back(tiny_model_path):
    state = torch.load(tiny_model_path, weights_only=True)
    assert state["format_version"] == FORMAT_VERSION and state["kind"] == "inference"
    assert all(v.dtype == torch.float16 for v in state["generator"].values() if v.is_floating_point())
    model = load_model(tiny_model_path, "cpu")
    assert model.config.image_size == 32 and model.device.type == "cpu" and model.device_label == "CPU"
    out = model.predict(torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 3, 32, 32) and 0 <= out.min() and out.max() <= 1


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickled_object_is_refused_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"generator": Evil(), "format_version": FORMAT_VERSION}, f)
    with pytest.raises(InpaintError, match="not a ContextFill model"):
        load_checkpoint(path)
    assert "owned" not in capsys.readouterr().out


def test_other_format_versions_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format_version": 0, "generator": {}}, path)
    with pytest.raises(InpaintError, match="format version 0"):
        load_checkpoint(path)
    with pytest.raises(InpaintError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_saving_is_atomic_and_leaves_no_temp_files(tmp_path):
    save_checkpoint({"generator": {"w": torch.ones(2)}}, tmp_path / "c.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
