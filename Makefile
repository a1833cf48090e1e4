# The two commands a newcomer needs:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint bench clean

# Installs the project and its dev tools into $(VENV). torch is pinned to the local CPU build.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

# Sets up a demo (user, API key, knowledge base, published bot) and serves the API on :8000.
run: setup
	$(BIN)/snapagent demo

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every check: lint, formatting, types, import layering, then the test suite.
test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
