# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench screenshots lint typecheck migrate clean-venv

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
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: benchmarks beside a naive baseline; figures go to bench/RESULTS.md
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

## make screenshots: run the browser tests and keep their screenshots in docs/screenshots
screenshots: $(VENV)/.installed-dev
	HDE_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check hde_core tests bench app.py pages
	$(BIN)/ruff format --check hde_core tests bench app.py pages

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy hde_core

migrate: $(VENV)/.installed-run
	$(BIN)/hde migrate

clean-venv:
	rm -rf $(VENV)
