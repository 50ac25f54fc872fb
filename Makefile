# One venv for everything. `make test` and `make demo` create it on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles from source; a native build enables AMX and crashes on some CPUs.
export CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export HF_HUB_OFFLINE := 1

.PHONY: install test lint typecheck unit demo serve bench-provider bench-latency bench-load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local,piper,fast,talk]'
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: install
	$(BIN)/mypy --strict src

unit: install
	$(BIN)/python -m pytest

test: lint typecheck unit

demo: install
	$(BIN)/realtime-agents demo

serve: install
	$(BIN)/realtime-agents serve

bench-provider: install
	$(BIN)/python benchmarks/provider_bench.py

bench-latency: install
	$(BIN)/python benchmarks/latency_local.py

bench-load: install
	$(BIN)/python benchmarks/server_load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
