"""The engine must run headless (CLI, tests, torchrun): nothing under model/ may import Qt or the GUI; and what a
worker emits reaches the GUI only through @Slot methods."""

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


APP = ROOT / "app"


def _slots(tree: ast.Module) -> dict[str, set[str]]:
    """class name -> names of its methods decorated with @Slot(...)."""
    return {node.name: {f.name for f in node.body if isinstance(f, ast.FunctionDef) and any(
        isinstance(d, ast.Call) and getattr(d.func, "id", "") == "Slot" for d in f.decorator_list)}
        for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def worker_signals() -> set[str]:
    """The names of the signals a worker thread emits: every signal of TaskSignals (app/workers.py), and every
    signal whose bound `emit` is handed over uncalled, as a callback that a task then calls (the batch's lines)."""
    tree = ast.parse((APP / "workers.py").read_text())
    task_signals = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "TaskSignals")
    names = {t.id for n in task_signals.body if isinstance(n, ast.Assign) for t in n.targets}
    for path in APP.glob("*.py"):
        module = ast.parse(path.read_text())
        called = {id(n.func) for n in ast.walk(module) if isinstance(n, ast.Call)}
        names |= {n.value.attr for n in ast.walk(module) if isinstance(n, ast.Attribute) and n.attr == "emit"
                  and id(n) not in called and isinstance(n.value, ast.Attribute)}
    return names


def test_every_connect_of_a_signal_a_worker_emits_goes_to_a_slot_method():
    """A lambda, closure or plain method connected to a signal emitted on a worker may run on that worker (PySide6
    >= 6.8), where it must not touch a widget. So every `connect` of such a signal in app/, whatever its variable
    is called (`task.signals.finished`, `signals.done`, `self._lines.line`...), must name a @Slot method of the class
    making it. A GUI-thread signal of the same name (QProcess.finished) is held to the same rule: it costs nothing."""
    emitted = worker_signals()
    assert {"started", "progress", "finished", "errored", "cancelled", "done", "line"} <= emitted
    offenders, checked = [], 0
    for path in sorted(APP.glob("*.py")):
        tree = ast.parse(path.read_text())
        slots = _slots(tree)
        owner = {id(call): cls.name for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
                 for call in ast.walk(cls) if isinstance(call, ast.Call)}  # the innermost class wins (walked last)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr == "connect" and isinstance(func.value, ast.Attribute)
                    and func.value.attr in emitted):
                continue
            checked += 1
            target = call.args[0]
            cls = owner.get(id(call))
            ok = (cls is not None and isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self"
                  and target.attr in slots[cls])
            if not ok:
                offenders.append(f"{path.name}:{call.lineno} {ast.unparse(call)}")
    assert offenders == []
    assert checked >= 25, "the connects of worker signals were not found"
