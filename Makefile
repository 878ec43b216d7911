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
	$(BIN)/ruff check pgqueue tests migrations examples
	$(BIN)/mypy --strict pgqueue examples

bench: $(STAMP)
	$(BIN)/pgqueue bench

# The example web app, a worker and the dashboard on the embedded database (unless
# PGQUEUE_DSN or DATABASE_URL says otherwise); Ctrl-C stops all three.
# Options: make example EXAMPLE_ARGS="--port 8001 --dashboard-port 8081"
example: $(STAMP)
	$(BIN)/python -m examples.webapp $(EXAMPLE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
