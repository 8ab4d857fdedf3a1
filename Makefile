# smis: `make demo` and `make test` install into .venv first when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m smis.demo

test: $(STAMP)
	$(PY) -m pytest

test-all: $(STAMP)   # includes the tests marked slow
	$(PY) -m pytest -m ""

lint: $(STAMP)
	$(PY) -m ruff check src tests

bench: $(STAMP)
	$(PY) -m smis.benchmarks.crops
	$(PY) -m smis.benchmarks.data
	$(PY) -m smis.benchmarks.train_step

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
