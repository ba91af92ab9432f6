# Every target that needs the environment depends on `install`, so each one works on a
# fresh machine that has only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck docs format demo bench real-suites clean \
	test-performance performance-report performance-update-docs performance-baseline \
	performance-regression

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The docs site (mkdocs, Material theme): every link and page checked (--strict).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

test: lint typecheck docs
	$(BIN)/pytest -n auto

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: install
	$(BIN)/python examples/demo.py

# Heavy measurements with targets of their own; figures go to docs/.
bench: install
	$(BIN)/python benchmarks/tracker_overhead.py
	$(BIN)/python benchmarks/gate_accuracy.py
	$(BIN)/python benchmarks/gate_accuracy.py --neighbour
	$(BIN)/python benchmarks/fixture_cache.py
	$(BIN)/python benchmarks/llm_cassettes.py
	$(BIN)/python benchmarks/codemod_throughput.py
	$(BIN)/python benchmarks/audit_parallel.py
	$(BIN)/python benchmarks/cli_startup.py

# Every capability on real projects' own test suites (benchmarks/real_suites/manifest.toml);
# figures to docs/real-suites.md. ONLY=name,name and STEPS=gate,audit run parts.
real-suites: install
	$(BIN)/python benchmarks/real_suites/run.py $(if $(ONLY),--only $(ONLY)) $(if $(STEPS),--steps $(STEPS))

# optikit's own suite, tracked and gated by optikit (the baseline is committed).
test-performance: install
	$(BIN)/pytest -n auto --track-performance

performance-report: install
	$(BIN)/optikit report --compare-baseline

performance-update-docs: install
	$(BIN)/optikit report --update-docs docs/performance-report.md

performance-baseline: install
	$(BIN)/optikit baseline --from-history 5

performance-regression: install
	$(BIN)/optikit regression --confirm 3

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info .optikit
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
