# gigapath_nb: every target creates and uses a virtualenv at $(VENV) (override: make test VENV=/path/to/venv).
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN := $(VENV)/bin
STAMP := $(VENV)/.gigapath_nb-installed
DEMO_OUT ?= demo_out
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: help install demo test test-slow check-sync nbtest pytest docs lab readme bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name gigapath_nb --display-name "Python (gigapath_nb)"
	@touch $(STAMP)
	@echo "installed gigapath_nb into $(VENV) ($$(du -sh $(VENV) | cut -f1))"

install: $(STAMP)  ## create the virtualenv (.venv/, or VENV=...), install the package with its dev tools, register the Jupyter kernel

demo: $(STAMP)  ## the main job: the offline demo, end to end (outputs in demo_out/, or DEMO_OUT=...)
	$(BIN)/gigapath-demo --out $(DEMO_OUT)

test: $(STAMP)  ## the whole test suite: sync checks, notebooks (slow cells skipped), pytest
	$(MAKE) --no-print-directory check-sync nbtest pytest

check-sync: $(STAMP)  ## nbdev_export and nbdev_clean must change nothing; README must match nbs/index.ipynb
	$(BIN)/python tools/check_sync.py

nbtest: $(STAMP)  ## run every notebook as a test (cells flagged slow/cuda are skipped)
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: $(STAMP)  ## pytest over tests/ (builds the docs site and opens it in headless Chromium)
	$(BIN)/python tools/ensure_chromium.py
	$(BIN)/python -m pytest tests

test-slow: $(STAMP)  ## also run the notebook cells flagged slow
	$(BIN)/nbdev_test --n_workers 2 --timing --flags slow

docs: $(STAMP)  ## build the static docs site into _site/ (offline: nbdev processing + mkdocs)
	$(BIN)/python tools/build_docs.py --out _site

readme: $(STAMP)  ## regenerate README.md from nbs/index.ipynb
	$(BIN)/python tools/check_sync.py --write-readme

lab: $(STAMP)  ## JupyterLab on the project's kernel
	$(BIN)/jupyter lab --notebook-dir=nbs $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

bench: $(STAMP)  ## run the speed/memory benchmarks (writes benchmarks/results/)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove generated docs, runs and caches (keeps the virtualenv)
	rm -rf _docs _proc _site _mkdocs runs $(DEMO_OUT) .pytest_cache
