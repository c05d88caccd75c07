"""Cut-outs pasted onto training photos: their alpha decides what shows, the photos themselves stay untouched."""

import json

import torch

from contextfill.model.objects import PER_PHOTO, paste_objects
from contextfill.model.train import TrainConfig, train


def red_disc(side: int = 40) -> torch.Tensor:
    """An opaque red disc on a transparent square."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    inside = ((yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2) < (side / 2 - 2) ** 2
    cut = torch.zeros(4, side, side, dtype=torch.uint8)
    cut[0], cut[3] = 255, inside.to(torch.uint8) * 255
    return cut


def test_a_cut_out_shows_through_its_alpha_only():
    photo = torch.zeros(3, 200, 300, dtype=torch.uint8)
    photo[2] = 200  # blue
    before = photo.clone()
    (composite,) = paste_objects([photo], [red_disc()], seed=0)
    assert torch.equal(photo, before)  # the photo itself is kept
    red = (composite[0] > 200) & (composite[2] < 50)
    blue = (composite[0] < 50) & (composite[2] > 150)
    assert red.any() and blue.float().mean() > 0.5  # discs on a blue photo, which mostly still shows
    assert ((red | blue).float().mean()) > 0.97  # nothing but disc or photo: the square around a disc is clear
    area = red.float().mean().item()
    assert 0.01 < area < PER_PHOTO * 0.4**2 * (200 / 300)  # at most PER_PHOTO discs of 10-40% of the short side
    assert torch.equal(composite, paste_objects([photo], [red_disc()], seed=0)[0])  # fixed by the seed


def test_training_with_objects_adds_a_composite_of_each_photo(photo_dir, tmp_path):
    from PIL import Image

    objects = tmp_path / "objects"
    objects.mkdir()
    Image.fromarray(red_disc().permute(1, 2, 0).numpy(), "RGBA").save(objects / "disc.png")
    train(TrainConfig(data=str(photo_dir), objects=str(objects), out=str(tmp_path / "run"), dry_run=True, steps=2,
                      val_fraction=0.25, json=True))
    start = next(e for e in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if e["event"] == "start")
    assert (start["train_photos"], start["val_photos"]) == (6, 1)  # 3 photos and their 3 composites; validation untouched
