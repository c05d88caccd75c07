# The README's contract: `make run` and `make test` set everything up from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test

.PHONY: run test bench package clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m app

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) bench/bench_model.py --out bench/out/bench_model.json
	$(PY) bench/bench_fill.py --photos ../shared/datasets/photos-val --textures ../shared/datasets/textures --out bench/out
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_gui.py --out bench/out/bench_gui.json

package: $(STAMP)
	$(PY) -m pip install --quiet -e ".[package]"
	$(PY) -m PyInstaller --noconfirm --distpath dist --workpath build packaging/contextfill.spec
	$(PY) packaging/smoke_test.py dist/contextfill/contextfill

clean:
	rm -rf build dist .pytest_cache
