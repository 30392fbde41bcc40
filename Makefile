# Two entry points that work on a fresh machine with only Python and make:
#   make demo   set up, then run the main job on the embedded default (SQLite, file outbox)
#   make test   set up, then run the tests (lint, format, import contract, pytest)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo run test lint format bench clean

$(BIN)/alongside: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/alongside

demo: setup
	$(BIN)/alongside demo

run: setup
	$(BIN)/alongside run

test: lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .alongside
