# The two commands of the README. Each one sets up everything it needs on a fresh machine:
# a virtual environment in .venv with the CPU build of PyTorch, then this project with its
# notebook and test extras.
#
#   make notebooks [PROFILE=cpu]   the main job: every notebook through papermill -> build/$(PROFILE)/
#   make test                      the test suite (CI runs this through .ci/run)

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= cpu
DEVICE  ?= auto
SEED    ?= 0
# The CPU build of torch 2.13.0. On a GPU machine use e.g. TORCH="torch==2.13.0" with the CUDA index.
TORCH   ?= torch==2.13.0
PIP_TORCH_ARGS ?=

BIN := $(VENV)/bin

.PHONY: notebooks test setup clean-build

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_TORCH_ARGS) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[notebooks,dev]"
	touch $@

notebooks: setup
	$(BIN)/python -m duvae.run_notebooks --profile $(PROFILE) --device $(DEVICE) --seed $(SEED)

test: setup
	$(BIN)/python -m pytest -q

clean-build:
	rm -rf build
