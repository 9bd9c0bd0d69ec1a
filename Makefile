# Two commands for a newcomer: `make demo` (main job on the embedded digits data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs dist bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch torchvision
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nas-pipeline

# The default suite on one pytest-xdist worker per core (at most 4; PYTEST_WORKERS=0 runs it in
# one process): each test runs single-threaded, so two workers on two cores halve the wall time.
PYTEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, os.cpu_count() or 1))")

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on any warning.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

# The release: sdist + wheel into dist/ (offline: no build isolation), checked by twine.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

# Benchmarks write JSON (and plots) to bench/results/ and print Markdown tables.
bench: $(STAMP)
	$(BIN)/python -m bench.supernet.cost_bench
	$(BIN)/python -m bench.train.step_bench
	$(BIN)/python -m bench.evaluate.retrain_digits
	$(BIN)/python -m bench.search.lamoo_bench --quick

clean:
	rm -rf $(VENV) outputs multirun site build dist
