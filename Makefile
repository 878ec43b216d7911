# Every target sets itself up: a venv in .venv with pgqueue and its dev extra.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-chaos lint bench soak example dist smoke-install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pgqueue needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The distribution was called "pgqueue" before 0.1.0 shipped (now pgqueue-jobs): drop it.
	@$(BIN)/python -m pip uninstall --quiet --yes pgqueue 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pgqueue demo

# The suite in parallel processes (pytest-xdist); one file's tests stay in one process, so a
# module's fixtures are built once. TEST_WORKERS=0 runs it in this process. Four on the
# 2-core test machine: many tests wait on real worker processes (3m30s; three: 4m04s).
TEST_WORKERS ?= 4
test: $(STAMP)
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test-chaos: $(STAMP)
	PGQUEUE_CHAOS=full $(BIN)/pytest -m chaos

lint: $(STAMP)
	$(BIN)/ruff check pgqueue tests migrations examples
	$(BIN)/mypy --strict pgqueue examples
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_import_graph.py

bench: $(STAMP)
	$(BIN)/pgqueue bench

# The long soak (tests/soak/run.py): a temporary cluster of its own, 30 minutes of steady
# mixed load with worker restarts, a CSV row every 10 s, a verdict (exit 1 if it fails) and
# an SVG plot in build/soak/<time>/. Shorter: make soak SOAK_ARGS="--minutes 5"
SOAK_ARGS ?=
soak: $(STAMP)
	$(BIN)/python -m tests.soak.run $(SOAK_ARGS)

# The example web app, a worker and the dashboard on the embedded database (unless
# PGQUEUE_DSN or DATABASE_URL says otherwise); Ctrl-C stops all three.
# Options: make example EXAMPLE_ARGS="--port 8001 --dashboard-port 8081"
example: $(STAMP)
	$(BIN)/python -m examples.webapp $(EXAMPLE_ARGS)

# The sdist and wheel in dist/, checked by twine (what a release uploads).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

# The wheel as a user installs it: a fresh venv with no extras runs the smoke suite
# (tests/integrations/smoke.py; needs PGQUEUE_TEST_DSN), then each extra alone in its own
# venv gets its import check. Venvs are made without pip and filled by this venv's pip,
# which reuses its download cache: about a minute in all.
SMOKE_DIR ?= build/smoke
SMOKE_EXTRAS ?= binary embedded dashboard metrics otel django
smoke-install: dist
	rm -rf $(SMOKE_DIR)
	$(PYTHON) -m venv --without-pip $(SMOKE_DIR)/bare
	$(BIN)/python -m pip --python $(SMOKE_DIR)/bare/bin/python install --quiet dist/*.whl
	cd $(SMOKE_DIR) && PGQUEUE_SMOKE_INSTALLED=1 bare/bin/python $(CURDIR)/tests/integrations/smoke.py
	for extra in $(SMOKE_EXTRAS); do \
	  $(PYTHON) -m venv --without-pip $(SMOKE_DIR)/$$extra \
	  && $(BIN)/python -m pip --python $(SMOKE_DIR)/$$extra/bin/python install --quiet \
	       "$$(ls dist/*.whl)[$$extra]" \
	  && (cd $(SMOKE_DIR) && $$extra/bin/python $(CURDIR)/tests/integrations/extras.py $$extra) \
	  || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
