"""The engine must run headless (CLI, tests, torchrun): nothing under model/ may import Qt or the GUI."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model"


def _root(name: str) -> str:
    """The package an import comes from: 'PySide6', or 'contextfill.app' for our own layers."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "contextfill" else parts[0]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {_root(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(_root(node.module) if node.module != "contextfill" else "contextfill." + node.names[0].name)
    return roots


def test_model_never_imports_qt_or_app():
    files = sorted(MODEL.rglob("*.py"))
    assert files
    offenders = {str(p.relative_to(MODEL)): sorted(imported_roots(p) & {"PySide6", "PyQt5", "PyQt6", "contextfill.app", "app", "shiboken6"}) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_checkpoints_are_loaded_weights_only():
    for path in MODEL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" and getattr(node.func.value, "id", None) == "torch":
                kwargs = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kwargs and kwargs["weights_only"].value is True, f"{path.name}: torch.load without weights_only=True"


def test_one_import_root_contextfill():
    """Installed, the project owns the name `contextfill` alone (no top-level `app` or `model` in site-packages),
    and the code imports itself only through it: never as a bare `model` or `app` that works from this folder."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(name.startswith("contextfill.") for name in config["packages"])
    assert config["package-dir"] == {"contextfill.app": "app", "contextfill.model": "model"}
    files = [p for folder in ("app", "model", "tests", "bench", "packaging") for p in (ROOT / folder).rglob("*.py")]
    bare = {str(p.relative_to(ROOT)) for p in files if imported_roots(p) & {"app", "model"}}
    assert bare == set()


def test_filling_never_loads_torchvision():
    """torchvision adds about 180 MB to every process that imports it; only training crops and the alexnet
    architecture need it, so the batch and fill paths (and the app's engine) must stay under 1 GB without it."""
    import subprocess
    import sys

    code = ("import sys; from contextfill.model import cli, batch, pipeline, patchmatch, evaluate; cli.build_parser(); "
            "print('torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
