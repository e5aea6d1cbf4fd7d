# RUNE's entry points; `.ci/run` calls `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test conformance bench bench-cedar bench-datalog bench-engine bench-writes \
	bench-server bench-mcp-gateway fuzz-server lint clean

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

bench-mcp-gateway: $(STAMP)
	$(PY) benchmarks/mcp_gateway.py

bench-engine: $(STAMP)
	$(PY) benchmarks/engine_authorize.py

bench-writes: $(STAMP)
	$(PY) benchmarks/engine_writes.py

# `rune serve` under wrk (Debian's package, installed here when missing) beside a JSON
# echo on the same stack and beside Cerbos (its npm package, fetched on first use).
bench-server: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk
	$(PY) benchmarks/server.py

# A long schemathesis campaign against /openapi.json (CI runs a small one in `make test`).
fuzz-server: $(STAMP)
	RUNE_FUZZ_EXAMPLES=500 $(PY) -m pytest tests/server/test_openapi_fuzz.py -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
