# The two commands a newcomer needs:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint image-check bench bench-venv clean

# Installs the project, its dev tools and the optional `torch` extra (the tests of the previous
# default embedding model, all-MiniLM-L6-v2, need it) into $(VENV). torch is pinned to the local
# CPU build and installed first, so the extra never resolves another build.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,torch]'
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

# Every check: lint, formatting, types, import layering, the test suite, then the image install.
test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)
	bash scripts/check_image_install.sh

# The container image's install steps (scripts/image_install.sh, as the Dockerfile runs them) in
# a fresh venv, then smoke checks of the installed product: no Docker engine needed.
image-check:
	bash scripts/check_image_install.sh

# Benchmarks run in their own venv: the peers they measure (LangGraph, Haystack: the `bench`
# extra) must never be resolved into .venv, where the tests run. `dev` comes too: some benches
# start PostgreSQL from the pgserver wheel the way the tests do.
BENCH_VENV ?= .bench-venv
BENCH_BIN := $(BENCH_VENV)/bin

$(BENCH_BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/pip install --quiet --upgrade pip
	$(BENCH_BIN)/pip install --quiet torch==2.13.0
	$(BENCH_BIN)/pip install --quiet -e '.[dev,bench,torch]'
	touch $@

bench-venv: $(BENCH_BIN)/.installed

# Runs every bench/*.py script (helpers are _-prefixed) in a bounded size, a few minutes each;
# fails if any missed its targets. The full-size commands are in bench/README.md.
BENCH_RUNS := \
	"engine.py" \
	"providers.py" \
	"embeddings.py" \
	"retrieval_quality.py --limit 20" \
	"answer_quality.py --limit 20" \
	"retrieval_speed.py --sizes 10000" \
	"http.py" \
	"load.py --duration 30" \
	"migration.py"

bench: bench-venv
	@status=0; for run in $(BENCH_RUNS); do \
		echo "== bench/$$run"; $(BENCH_BIN)/python bench/$$run || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .pytest_cache .ruff_cache
