# Every target sets itself up: a venv in .venv with pgqueue and its dev extra.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-chaos lint bench example clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pgqueue needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pgqueue demo

test: $(STAMP)
	$(BIN)/pytest

test-chaos: $(STAMP)
	PGQUEUE_CHAOS=full $(BIN)/pytest -m chaos

lint: $(STAMP)
	$(BIN)/ruff check pgqueue tests migrations
	$(BIN)/mypy --strict pgqueue

bench: $(STAMP)
	$(BIN)/pgqueue bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
