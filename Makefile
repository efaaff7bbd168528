# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-fast bench screenshots lint typecheck layers check migrate clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed-run
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

## make run: migrate, seed the sandbox demo, start console + dispatcher + webhooks + simulators + SMTP sink
run: $(VENV)/.installed-run
	$(BIN)/hde demo

## make test: the whole suite (SQLite always; PostgreSQL too when HDE_TEST_POSTGRES_URL is set)
# Two parts: everything but the browser on both cores (pytest-xdist, a test file stays on
# one worker), then the browser tests alone, as a user's machine would run the console.
# With PYTEST_ARGS, one plain pytest run of what they select.
test: $(VENV)/.installed-dev
ifeq ($(strip $(PYTEST_ARGS)),)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not browser"
	$(BIN)/python -m pytest -m browser
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

## make test-fast: the unit tests only (no database, socket or child process), in seconds.
## Markers (tests/conftest.py assigns them): unit, db, process, browser; e.g. PYTEST_ARGS='-m "db and not process"'
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m unit -q $(PYTEST_ARGS)

## make bench: benchmarks beside a naive baseline; figures go to bench/RESULTS.md
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

## make screenshots: run the browser tests and keep their screenshots in docs/screenshots
screenshots: $(VENV)/.installed-dev
	HDE_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

## make check: lint + typecheck + layers (what .ci/run checks besides the tests)
check: lint typecheck layers

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check hde_core tests bench tools app.py console.py pages
	$(BIN)/ruff format --check hde_core tests bench tools app.py console.py pages

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy hde_core pages app.py console.py tools

## make layers: the import layers (pyproject [tool.importlinter]) and the pages' imports
layers: $(VENV)/.installed-dev
	$(BIN)/lint-imports
	$(BIN)/python tools/page_imports.py

migrate: $(VENV)/.installed-run
	$(BIN)/hde migrate

clean-venv:
	rm -rf $(VENV)
