"""Stand-ins for CUDA libraries that torch links against but a CPU-only bundle never calls.

The PyPI build of torch lists cuBLAS, cuFFT, NCCL, cuSPARSE(Lt), cuRAND, NVRTC and NVSHMEM as DT_NEEDED of
libtorch_cuda.so, so the dynamic loader refuses to import torch without files of those names (1.7 GB in all),
even on a machine with no GPU. A stand-in has the real library's soname and exports every symbol the real one
exports, under the same symbol versions; each function aborts with one line saying that this bundle has no
CUDA. The CPU bundle also hides every GPU from torch (packaging/rthook_cpu_only.py), so none is ever called.

  python packaging/cuda_stubs.py REAL_LIBRARY OUT_DIR   # writes OUT_DIR/<same file name>
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MESSAGE = ("ContextFill: this is the CPU-only bundle, a CUDA library was called ({name}); "
           "use the full bundle to run on an NVIDIA GPU")

# `nm -D --defined-only -S`: value, size (absent for some), type, name[@@version]
_NM_LINE = re.compile(r"^[0-9a-f]+\s+(?:([0-9a-f]+)\s+)?([A-Za-z])\s+(\S+)$")
_FUNCTION_TYPES = set("TtWiu")   # code, weak, indirect, unique (treated as code: only its address is taken)
_DATA_TYPES = set("DdBbRrVv")


def exported_symbols(library: Path) -> list[tuple[str, str | None, str, int]]:
    """(name, version or None, 'function' | 'data', size) of each symbol the library exports."""
    out = subprocess.run(["nm", "-D", "--defined-only", "-S", str(library)], capture_output=True, text=True,
                         check=True).stdout
    symbols, seen = [], set()
    for line in out.splitlines():
        match = _NM_LINE.match(line.strip())
        if not match or match[2] in "Aa":   # 'A': the version node itself
            continue
        size, kind, full = int(match[1] or "0", 16), match[2], match[3]
        name, _, version = full.replace("@@", "@").partition("@")
        if name in seen:
            continue
        seen.add(name)
        if kind in _FUNCTION_TYPES:
            symbols.append((name, version or None, "function", size))
        elif kind in _DATA_TYPES:
            symbols.append((name, version or None, "data", max(size, 1)))
    return symbols


def soname(library: Path) -> str:
    out = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\(SONAME\).*\[(.+)\]", out)
    return match[1] if match else library.name


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stub_source(library_name: str, symbols: list[tuple[str, str | None, str, int]]) -> str:
    lines = ["#include <stdio.h>", "#include <stdlib.h>",
             "static void cf_missing(void) {",
             f"    fputs({_c_string(MESSAGE.format(name=library_name))} \"\\n\", stderr);",
             "    abort();", "}"]
    for index, (name, _version, kind, size) in enumerate(symbols):
        if kind == "function":
            lines.append(f"void cf_f{index}(void) __asm__({_c_string(name)});")
            lines.append(f"void cf_f{index}(void) {{ cf_missing(); }}")
        else:
            lines.append(f"char cf_d{index}[{size}] __asm__({_c_string(name)});")
    return "\n".join(lines) + "\n"


def version_script(symbols: list[tuple[str, str | None, str, int]]) -> str | None:
    versions: dict[str, list[str]] = {}
    for name, version, _kind, _size in symbols:
        if version:
            versions.setdefault(version, []).append(name)
    if not versions:
        return None
    return "".join(f"{version} {{ global: {' '.join(f'{n};' for n in names)} }};\n"
                   for version, names in versions.items())


def build_stub(real: Path, out_dir: Path, cc: str = "gcc") -> Path:
    """Compile the stand-in for `real` as out_dir/<real's file name>; returns its path."""
    real, out_dir = Path(real), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    symbols = exported_symbols(real)
    source = out_dir / f"{real.name}.c"
    source.write_text(stub_source(real.name, symbols))
    target = out_dir / real.name
    cmd = [cc, "-shared", "-fPIC", "-O1", "-o", str(target), str(source), f"-Wl,-soname,{soname(real)}"]
    script = version_script(symbols)
    if script:
        map_file = out_dir / f"{real.name}.map"
        map_file.write_text(script)
        cmd.append(f"-Wl,--version-script={map_file}")
    subprocess.run(cmd, check=True)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    print(build_stub(Path(sys.argv[1]), Path(sys.argv[2])))
