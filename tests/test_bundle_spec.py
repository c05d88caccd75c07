"""packaging/contextfill.spec's choice of files, without running PyInstaller: the spec is executed with stand-ins
for Analysis/PYZ/EXE/COLLECT, fed a TOC shaped like PyInstaller's from this environment's torch and NVIDIA
libraries (real files, so stand-in libraries are really compiled and linked)."""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "contextfill.spec"
TORCH = Path(importlib.util.find_spec("torch").submodule_search_locations[0])
SITE = TORCH.parent
NVIDIA_LIBS = sorted(p for p in SITE.glob("nvidia/*/lib/*") if p.is_file())

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not NVIDIA_LIBS or not shutil.which("gcc"),
    reason="needs Linux, the CUDA build of torch (nvidia/ libraries) and gcc")


def needed(path: str) -> set[str]:
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return set(re.findall(r"\(NEEDED\).*\[(.+)\]", out))


def analysis_toc() -> tuple[list, list]:
    """binaries and datas as PyInstaller's Analysis lists them: files kept at their package path, top-level links."""
    binaries = [(str(p.relative_to(SITE)), str(p), "BINARY") for p in sorted((TORCH / "lib").glob("*.so*"))]
    binaries += [(str(p.relative_to(SITE)), str(p), "EXTENSION") for p in TORCH.glob("_C*.so")]
    binaries += [(str(p.relative_to(SITE)), str(p), "BINARY") for p in NVIDIA_LIBS if ".so" in p.name]
    datas = [(str(p.relative_to(SITE)), str(p), "DATA") for p in NVIDIA_LIBS if ".so" not in p.name]
    datas += [(p.name, str(p.relative_to(SITE)), "SYMLINK") for p in NVIDIA_LIBS if ".so." in p.name]
    return binaries, datas


def run_spec(tmp_path: Path, variant: str, monkeypatch) -> dict:
    """Execute the spec; returns what it gave Analysis and COLLECT."""
    seen: dict = {}
    binaries, datas = analysis_toc()

    class Analysis:
        def __init__(self, scripts, **kwargs):
            seen["analysis"] = kwargs
            self.binaries, self.datas, self.pure, self.scripts = binaries, datas, [], []

    class COLLECT:
        def __init__(self, *args, name):
            self.name = str(tmp_path / "dist" / name)
            Path(self.name).mkdir(parents=True)
            seen["binaries"], seen["datas"], seen["name"] = args[2], args[3], name

    namespace = dict(SPECPATH=str(SPEC.parent), workpath=str(tmp_path / "build"), DISTPATH=str(tmp_path / "dist"),
                     Analysis=Analysis, PYZ=lambda *a, **k: None, EXE=lambda *a, **k: None, COLLECT=COLLECT)
    (tmp_path / "build").mkdir()
    monkeypatch.setenv("CONTEXTFILL_BUNDLE", variant)
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)
    return seen


def assert_consistent(toc: list) -> None:
    """No link to a file left out, and every torch/NVIDIA library a bundled binary needs is bundled."""
    files = {os.path.normpath(d) for d, s, t in toc if t != "SYMLINK"}
    for dest, src, typecode in toc:
        if typecode == "SYMLINK":
            assert os.path.normpath(os.path.join(os.path.dirname(dest), src)) in files, dest
    managed = {p.name for p in NVIDIA_LIBS} | {p.name for p in (TORCH / "lib").glob("*.so*")}
    names = {os.path.basename(d) for d, s, t in toc}
    for dest, src, typecode in toc:
        if typecode in ("BINARY", "EXTENSION"):
            assert not (needed(src) & managed) - names, dest


def test_full_bundle_keeps_cuda_and_drops_triton_and_archives(tmp_path, monkeypatch):
    seen = run_spec(tmp_path, "full", monkeypatch)
    toc = seen["binaries"] + seen["datas"]
    dests = {d for d, s, t in toc}

    assert seen["name"] == "contextfill" and "triton" in seen["analysis"]["excludes"]
    assert not [d for d in dests if d.endswith((".a", ".bc")) or ".alt." in d or "cusolverMg" in d]
    for kernel in ("libcudnn_engines_precompiled.so.9", "libcublasLt.so.13", "libcusolver.so.12"):
        assert any(d.endswith(kernel) for d in dests if d.startswith("nvidia/")), kernel
    assert "torch/lib/libtorch_cuda_linalg.so" in dests
    assert not any(d == "contextfill-cpu-only" for d in dests)
    assert_consistent(toc)
    assert os.access(tmp_path / "dist" / "contextfill" / "install-desktop.py", os.X_OK)


@pytest.mark.skipif(not ctypes.util.find_library("xcb-cursor"), reason="Qt's X11 libraries not installed here")
def test_bundle_carries_every_x11_library_qt_needs_but_the_core(tmp_path, monkeypatch):
    from contextfill.app.entry import XCB_LIBRARIES

    carried = {Path(src).name: dest for src, dest in run_spec(tmp_path, "full", monkeypatch)["analysis"]["binaries"]
               if Path(src).name in XCB_LIBRARIES}
    wanted = {name for name, (_, _, bundled) in XCB_LIBRARIES.items() if bundled and ctypes.util.find_library(
        name.removeprefix("lib").split(".so")[0])}
    assert set(carried) == wanted and set(carried.values()) == {"."}
    assert "libxcb-icccm.so.4" in carried and "libX11.so.6" not in carried


def test_cpu_bundle_has_stand_ins_instead_of_cuda_kernels(tmp_path, monkeypatch):
    seen = run_spec(tmp_path, "cpu", monkeypatch)
    toc = seen["binaries"] + seen["datas"]
    nvidia = {d: s for d, s, t in seen["binaries"] if d.startswith("nvidia/")}
    stand_ins = {d for d, s in nvidia.items() if Path(s).is_relative_to(tmp_path / "build")}

    assert seen["name"] == "contextfill-cpu"
    assert "nvidia/cu13/lib/libcublasLt.so.13" in stand_ins and "nvidia/nccl/lib/libnccl.so.2" in stand_ins
    real = {Path(d).name for d in set(nvidia) - stand_ins}
    assert real <= {"libcudart.so.13", "libcupti.so.13", "libcufile.so.0", "libcudnn.so.9"}
    assert sum(Path(nvidia[d]).stat().st_size for d in stand_ins) < 2 * 2**20
    assert not any("cudnn_engines" in d or "libtorch_cuda_linalg" in d for d, s, t in toc)
    assert ("contextfill-cpu-only", str(tmp_path / "build" / "contextfill-cpu-only"), "DATA") in seen["datas"]
    assert_consistent(toc)


def test_stand_in_exports_what_torch_imports_from_the_real_library(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "packaging"))
    from cuda_stubs import build_stub
    real = next(p for p in NVIDIA_LIBS if p.name.startswith("libcublas.so"))
    stub = build_stub(real, tmp_path)

    def exports(lib: Path) -> set[str]:
        out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
        return {line.split()[-1] for line in out.splitlines() if line.split()[-1:] and "@" in line.split()[-1]}

    wanted = subprocess.run(["nm", "-D", "--undefined-only", str(TORCH / "lib" / "libtorch_cuda.so")],
                            capture_output=True, text=True).stdout.split()
    from_real = {s.split("@")[0] for s in wanted} & {s.split("@")[0] for s in exports(real)}
    assert from_real and from_real <= {s.split("@")[0] for s in exports(stub)}
    assert {s.split("@", 2)[-1] for s in exports(stub)} == {s.split("@", 2)[-1] for s in exports(real)}
    assert needed(str(stub)) <= {"libc.so.6"}
    # Called anyway, it stops with a sentence instead of doing anything.
    call = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(stub)!r}).cublasCreate_v2(None)"],
                          capture_output=True, text=True)
    assert call.returncode != 0 and "CPU-only bundle, a CUDA library was called" in call.stderr


def test_the_analysis_finds_the_one_import_root(tmp_path, monkeypatch):
    """The bundle's modules are contextfill.app and contextfill.model, read through links to the source folders."""
    root = Path(run_spec(tmp_path, "full", monkeypatch)["analysis"]["pathex"][0])
    assert (root / "contextfill" / "model" / "pipeline.py").is_file()
    assert (root / "contextfill" / "app" / "entry.py").is_file()
