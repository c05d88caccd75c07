# The README's contract: `make run` and `make test` set everything up from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test

PACKAGE_STAMP := $(VENV)/.installed-package
BUNDLE ?= dist/contextfill
PYINSTALLER := $(PY) -m PyInstaller --noconfirm --distpath dist --workpath build packaging/contextfill.spec

.PHONY: run test bench gpu-stage gpu-check package package-cpu install-desktop uninstall-desktop clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m contextfill.app

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) bench/bench_model.py --out bench/out/bench_model.json
	$(PY) bench/bench_fill.py --photos ../shared/datasets/photos-val --textures ../shared/datasets/textures --out bench/out
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_gui.py --out bench/out/bench_gui.json

# The prepared GPU job (README: Training on a GPU): stage the training sets into gpu-data/ (git-ignored, it
# travels with the device run's `carry`), and check the job on the CPU with a handful of steps.
gpu-stage: $(STAMP)
	$(PY) packaging/gpu_job.py --stage

gpu-check: $(STAMP)
	$(PY) packaging/gpu_job.py --dry-run --minutes 1.5 --out build/gpu-check

$(PACKAGE_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet -e ".[package]"
	touch $(PACKAGE_STAMP)

# dist/contextfill: runs on the CPU, or on an NVIDIA GPU with CUDA.
package: $(PACKAGE_STAMP)
	$(PYINSTALLER)
	$(PY) packaging/smoke_test.py dist/contextfill/contextfill

# dist/contextfill-cpu: CPU only, without the CUDA libraries (needs gcc for their stand-ins).
package-cpu: $(PACKAGE_STAMP)
	CONTEXTFILL_BUNDLE=cpu $(PYINSTALLER)
	$(PY) packaging/smoke_test.py dist/contextfill-cpu/contextfill

# Menu entry, icon and photo associations for a built bundle, in ~/.local/share (BUNDLE=dist/contextfill-cpu).
install-desktop:
	$(PYTHON) packaging/install_desktop.py install $(BUNDLE)

uninstall-desktop:
	$(PYTHON) packaging/install_desktop.py uninstall

clean:
	rm -rf build dist .pytest_cache
