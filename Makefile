# Two entry points for a fresh machine (Python 3.11, pip, make, git):
#   make demo   opens the console on a demo database (created when absent)
#   make test   runs the whole test suite, the same command CI runs
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DB ?= demo/master.db3

.PHONY: demo test lint screenshots bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cmail-console demo $(DEMO_DB)
	$(BIN)/cmail-console -d $(DEMO_DB)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

screenshots: $(STAMP)
	$(BIN)/python tools/make_screenshots.py

bench: $(STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) demo .pytest_cache snapshot_report.html
