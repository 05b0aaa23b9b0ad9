# Everything the project needs is installed from here into .venv (package registries only).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck bench clean

# llama.cpp is compiled for a portable x86-64 target: a -march=native build has crashed with
# SIGILL on machines whose CPU flags differ from the builder's, and the vision part is not used.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,local-model]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m aupgate.demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# LiteLLM, the side-by-side reference of the gateway benchmark, in its own environment.
LITELLM := benchmarks/out/litellm/bin/litellm
$(LITELLM):
	$(PYTHON) -m venv benchmarks/out/litellm
	benchmarks/out/litellm/bin/pip install --quiet 'litellm[proxy]==1.108.7'

bench: setup $(LITELLM)
	$(BIN)/python -m benchmarks $(B)

clean:
	rm -rf $(VENV) build *.egg-info
