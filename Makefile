# The two Quickstart commands: `make demo` and `make test`. Each builds .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "setpoint needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/setpoint run examples/myblog --node-labels node-1:component=mysql

lint: $(STAMP)
	$(BIN)/ruff check store reconcile controllers tests benchmarks examples conftest.py
	$(BIN)/ruff format --check store reconcile controllers tests benchmarks examples conftest.py
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

# Every benchmark in its own process; the table lands in benchmarks/results/summary.md.
# BENCH_ARGS=--quick for a smoke run; uvloop (the bench extra) adds a column where it applies.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
