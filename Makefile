# Two entry points: `make demo` and `make test`. Both create .venv and install the project.
# `make wheel-check` builds the wheel and runs the CLI from a fresh venv with no extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench theory lint wheel-check clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-test: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-test
	$(BIN)/encore-jax demo --force  # the demo owns ./encore-jax-demo/: rerunning refreshes it

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# Full-size runs of every theory check; the reports and figures in theory/results/<check>/ are
# committed (theory/README.md says what each verifies). CPU-heavy: see theory/README.md.
theory: $(VENV)/.installed-test
	$(BIN)/encore-jax theory --out-dir theory/results --force

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.run

lint: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check .

wheel-check:
	PYTHON=$(PYTHON) scripts/check_wheel_install.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
