# smis: `make demo` and `make test` install into .venv first when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint docs docs-serve bench bench-gpu gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m smis.demo

# the studio web page (http://127.0.0.1:8765/) for the shipped model; others: STUDIO_ARGS="--model PATH"
.PHONY: studio
studio: $(STAMP)
	$(VENV)/bin/smis-studio $(STUDIO_ARGS)

# two workers with one torch thread each (tests/conftest.py), a test file per worker at a time
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

test-all: $(STAMP)   # includes the tests marked slow
	$(PY) -m pytest -n 2 --dist loadfile -m ""

lint: $(STAMP)
	$(PY) -m ruff check src tests

# the documentation site in site/: the notebooks run (a few minutes on a CPU) and show their outputs;
# the reference pages (commands, configuration, API) are generated from the code (docs/hooks.py)
docs: $(STAMP)
	SMIS_DOCS_EXECUTE=true NO_MKDOCS_2_WARNING=1 PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m mkdocs build --strict

docs-serve: $(STAMP)   # live preview on http://127.0.0.1:8000/ (notebooks not executed)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

bench: $(STAMP)
	$(PY) -m smis.benchmarks.crops
	$(PY) -m smis.benchmarks.data
	$(PY) -m smis.benchmarks.train_step

# On a CUDA machine: the gpu-marked tests, then the crops and train-step benchmarks at the authors'
# widths (every precision, channels_last, torch.compile, against the authors' algorithm), and where
# the Cityscapes step's time goes (per class of operation, kernel launches, host synchronisations),
# and the grouped convolutions three ways (the library's kernel, block-diagonal dense, batched matmul).
bench-gpu: $(STAMP)
	$(PY) -m pytest -m gpu -q -p no:cacheprovider
	$(PY) -m smis.benchmarks.crops --device cuda --json results/benchmarks/crops_gpu.json
	$(PY) -m smis.benchmarks.train_step --device cuda --decode --json results/benchmarks/train_step_gpu.json \
	    --variants authors 32-true bf16-mixed 16-mixed bf16-mixed+channels_last bf16-mixed+compile
	$(PY) -m smis.benchmarks.grouped_conv --device cuda --json results/benchmarks/grouped_conv_gpu.json
	$(PY) -m smis.benchmarks.grouped_conv --device cuda --backward --json results/benchmarks/grouped_conv_backward_gpu.json
	$(PY) -m smis.benchmarks.profile_step --preset cityscapes --device cuda --variant authors \
	    --json results/benchmarks/profile_cityscapes_authors_gpu.json
	$(PY) -m smis.benchmarks.profile_step --preset cityscapes --device cuda --deferred-finite-check \
	    --json results/benchmarks/profile_cityscapes_gpu.json --trace results/benchmarks/profile_cityscapes_gpu.trace.json

# The GPU checks and the measurements the GPU work starts from, in one run of at most 9.5 minutes
# (the steps' time limits; a failed step does not stop the next), on a machine whose Python already
# has the dependencies (nothing is installed): the gpu-marked tests, Cityscapes' step against the
# authors' algorithm (no host read-back), its profile, and its grouped convolutions three ways.
# Results: results/benchmarks/*_gpu_check.json.
GPU_PYTHON ?= python
GPU_RUN := PYTHONPATH=src timeout
gpu-check:
	-$(GPU_RUN) 240 $(GPU_PYTHON) -m pytest -m gpu -q -p no:cacheprovider -p no:xdist
	-$(GPU_RUN) 150 $(GPU_PYTHON) -m smis.benchmarks.train_step --device cuda --presets cityscapes --decode \
	    --deferred-finite-check --variants authors 32-true bf16-mixed --json results/benchmarks/train_step_gpu_check.json
	-$(GPU_RUN) 90 $(GPU_PYTHON) -m smis.benchmarks.profile_step --preset cityscapes --device cuda \
	    --deferred-finite-check --json results/benchmarks/profile_gpu_check.json
	-$(GPU_RUN) 90 $(GPU_PYTHON) -m smis.benchmarks.grouped_conv --device cuda --presets cityscapes --backward \
	    --json results/benchmarks/grouped_conv_gpu_check.json

clean:
	rm -rf $(VENV) results site .pytest_cache .ruff_cache
