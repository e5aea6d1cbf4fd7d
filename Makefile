# RUNE's entry points; `.ci/run` calls `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test conformance bench bench-cedar bench-datalog bench-engine bench-writes lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/coding_agent_demo.py

test: $(STAMP)
	$(PY) -m pytest -m "not slow"

conformance: $(STAMP)
	$(PY) -m pytest -m slow

bench: bench-cedar bench-datalog bench-engine bench-writes

bench-cedar: $(STAMP)
	$(PY) benchmarks/cedar_authorize.py

bench-datalog: $(STAMP)
	$(PY) benchmarks/datalog_vs_clingo.py
	$(PY) benchmarks/datalog_incremental.py

bench-engine: $(STAMP)
	$(PY) benchmarks/engine_authorize.py

bench-writes: $(STAMP)
	$(PY) benchmarks/engine_writes.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
