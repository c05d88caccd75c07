"""The engine must run headless (CLI, tests, torchrun): nothing under model/ may import Qt or the GUI."""

import ast
from pathlib import Path

MODEL = Path(__file__).resolve().parent.parent / "model"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_model_never_imports_qt_or_app():
    files = sorted(MODEL.rglob("*.py"))
    assert files
    offenders = {str(p.relative_to(MODEL)): sorted(imported_roots(p) & {"PySide6", "PyQt5", "PyQt6", "app", "shiboken6"}) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_checkpoints_are_loaded_weights_only():
    for path in MODEL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" and getattr(node.func.value, "id", None) == "torch":
                kwargs = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kwargs and kwargs["weights_only"].value is True, f"{path.name}: torch.load without weights_only=True"
