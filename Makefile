# Two entry points for a fresh machine with Python 3.11 and make:
#   make demo  - create .venv, install, simulate a small network with an intruder, hunt it
#   make test  - create .venv, install with test extras, run the whole test suite
#   make lint  - ruff (lint and format) over src, tests and bench; mypy over src and bench
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo-out

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/lotlhunt simulate volt-typhoon --out $(DEMO)/sim --hosts 20 --days 3 --seed 7
	$(BIN)/lotlhunt hunt $(DEMO)/sim/logs --jsonl $(DEMO)/detections.jsonl --csv $(DEMO)/timeline.csv --stats $(DEMO)/stats.json --html $(DEMO)/report.html --navigator $(DEMO)/attack-layer.json
	@echo "HTML report: $(abspath $(DEMO)/report.html)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q --durations=15

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
