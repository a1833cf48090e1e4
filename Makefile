# The two commands a newcomer needs:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint image-check bench bench-venv clean console console-check

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

# The web console (console/, TypeScript): dependencies exactly as the lock file says, then the
# build: the API's OpenAPI schema (dumped from the code) -> typed client -> type check -> Vite.
# Rebuilt only when its sources or the Python code behind the API changed.
NPM ?= npm
CONSOLE_INPUTS := $(shell find console/src console/public console/scripts console/index.html \
	console/vite.config.ts console/tsconfig.json src/snapagent scripts/dump_openapi.py -type f \
	-not -name '*.pyc' -not -name 'schema.gen.ts' 2>/dev/null)

console/node_modules/.installed: console/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "error: the console needs Node.js 20.19+ and npm" >&2; exit 1; }
	cd console && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

console/dist/index.html: $(BIN)/.installed console/node_modules/.installed $(CONSOLE_INPUTS)
	cd console && SNAPAGENT_PYTHON=$(abspath $(BIN))/python $(NPM) run build

console: console/dist/index.html

# The console's checks: eslint, tsc, unit tests (vitest), then the browser suite (Playwright
# driving Debian's chromium against a real `snapagent serve`; screenshots in console/screenshots).
console-check: console
	bash scripts/ensure_chromium.sh
	cd console && $(NPM) run lint && $(NPM) run typecheck && $(NPM) test && $(NPM) run e2e

# Sets up a demo (user, API key, knowledge base, published bot), builds the console and serves
# both on :8000 (the console at /, the API under /api, /docs).
run: setup console
	$(BIN)/snapagent demo

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every check: lint, formatting, types, import layering, the test suite, the console's checks,
# then the image install. The test log ends with the 30 slowest tests: slow suites hide regressions.
test: lint
	$(BIN)/pytest -q --durations=30 $(PYTEST_ARGS)
	$(MAKE) console-check
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
	"embedding_memory.py" \
	"retrieval_quality.py --limit 20" \
	"answer_quality.py --limit 20" \
	"rag_load.py" \
	"retrieval_speed.py --sizes 10000" \
	"http.py --rounds 1 --duration 3" \
	"lookups.py" \
	"load.py --duration 30" \
	"migration.py" \
	"validation.py" \
	"sandbox.py" \
	"agent.py" \
	"startup.py"

bench: bench-venv
	@status=0; for run in $(BENCH_RUNS); do \
		echo "== bench/$$run"; $(BENCH_BIN)/python bench/$$run || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .pytest_cache .ruff_cache
	rm -rf console/node_modules console/dist
