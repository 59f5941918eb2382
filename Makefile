# strata — every target documents itself: `make help`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install repro test test-fast lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create .venv and install strata with its pinned dependencies

repro: install ## run the whole pipeline on the embedded default (dvc repro)
	dvc repro

ONE_CORE := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(shell command -v taskset >/dev/null && echo taskset -c 0)

test: install ## every test on 2 workers (unit + end-to-end: real dvc, git, loopback S3), then the unit tests on one core
	$(PY) -m pytest -n 2 --dist loadfile --durations=25
	$(ONE_CORE) $(PY) -m pytest -m "not slow" -q

test-fast: install ## unit tests only
	$(PY) -m pytest -m "not slow"

lint: install ## ruff format check, ruff lint, mypy
	$(PY) -m ruff format --check stages strata tests bench
	$(PY) -m ruff check stages strata tests bench
	$(PY) -m mypy stages strata

bench: install ## benchmarks that print ratios measured side by side in one run
	$(PY) bench/run.py
	$(PY) bench/serve_load.py

clean: ## remove the virtualenv and caches (not data)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
