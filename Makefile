# Lead Segmenter. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint docs schemas format bench bench-kselect bench-throughput clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "installing the project and its tools into $(VENV) (about a minute the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local,docs]'
	touch $(STAMP)

demo: $(STAMP) ## 5,000 leads: choose K, fit, publish, stream them through Kafka to a live worker, report (20-35 s measured)
	$(BIN)/segmenter demo

# Three pytest processes (pytest-xdist), each test sent to whichever is free: most integration tests wait on a
# broker, a worker or a refit, so three keep two cores busy. TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= 3

test: $(STAMP) ## Every test: unit, CLI, streams, integration (embedded or SEGMENTER_TEST_* services), demo, doctests (4.5 min measured in CI, 9 min on a busy machine; 15 skip without Apache Kafka and Chromium)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

# tests/cli/test_demo.py runs the whole demo (embedded Tansu, Valkey and a worker): left to `make test`.
FAST_TESTS := tests/unit tests/cli tests/streams tests/docs segmentation models segmenter scripts README.md docs

test-fast: $(STAMP) ## Unit, CLI, streams-logic and docs tests, doctests, the docs' examples; no broker or worker (1.5-2.5 min measured on 2 shared cores)
	$(BIN)/pytest -q $(FAST_TESTS) --ignore=tests/cli/test_demo.py

docs: $(STAMP) ## The documentation site: mkdocs build --strict from docs/ into site/ (a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

schemas: $(STAMP) ## Rewrite schemas/<topic>-value.json from the event models (refuses a backward-incompatible change)
	$(BIN)/python scripts/write_schemas.py

lint: $(STAMP) ## ruff, ruff format --check, mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: bench-kselect bench-throughput ## Both benchmarks; rewrite their tables in docs/performance.md

bench-kselect: $(STAMP) ## K-selection benchmark and the 1M-lead fit on 5 seeds; rewrites their tables in docs/performance.md
	$(BIN)/python bench/kselect.py --write-docs docs/performance.md
	$(BIN)/python bench/kselect.py --seeds 5 --sizes 1000000 --write-docs docs/performance.md

# BENCH_ARGS passes options, e.g. BENCH_ARGS="--bootstrap HOST:9092 --redis redis://HOST:6379/0".
bench-throughput: $(STAMP) ## Streaming benchmark (about 30 min; makes bench/.venv-quix once); rewrites its table
	$(BIN)/python bench/throughput.py --write-docs docs/performance.md $(BENCH_ARGS)

clean: ## Remove the virtualenv and generated output
	rm -rf $(VENV) demo-output site .mypy_cache .ruff_cache
