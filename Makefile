# RUNE's entry points; `.ci/run` calls `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test conformance fuzz fuzz-ci bench bench-cedar bench-datalog bench-engine \
	bench-writes bench-server bench-langchain bench-mcp-gateway fuzz-server lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

# The fuzzers need atheris (the `fuzz` extra); `make test` does not.
FUZZ_STAMP := $(VENV)/.installed-fuzz
$(FUZZ_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,lint,fuzz]'
	touch $(FUZZ_STAMP)

demo: $(STAMP)
	$(PY) examples/coding_agent_demo.py

test: $(STAMP)
	$(PY) -m pytest -m "not slow"

conformance: $(STAMP)
	$(PY) -m pytest -m slow

# Every fuzz target for FUZZ_SECONDS each, one after the other, from its seed corpus in
# fuzz/corpus/<target> and the inputs it once failed on in tests/fuzz/crashes/<target>
# (both read only); new inputs go to .fuzz/corpus/<target>, crashes to .fuzz/artifacts/.
# FUZZ_INSTRUMENT: rune (coverage of RUNE, ~30 s to start), all (+ standard library),
# target (the target module only: starts at once). FUZZ_TIME_LIMIT: seconds one call
# may take. `timeout` stops a target hung where signals cannot reach (C code).
FUZZ_SECONDS    ?= 60
FUZZ_TARGETS    ?= cedar_policy cedar_schema entities_request datalog engine_api bundle \
                   server_wire
FUZZ_INSTRUMENT ?= rune
FUZZ_TIME_LIMIT ?= 2
FUZZ_FLAGS      ?=
fuzz: $(FUZZ_STAMP)
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p .fuzz/corpus/$$target; \
	  crashes=$$([ -d tests/fuzz/crashes/$$target ] && echo tests/fuzz/crashes/$$target); \
	  echo "== fuzz/$$target.py: $(FUZZ_SECONDS) s"; \
	  RUNE_FUZZ_INSTRUMENT=$(FUZZ_INSTRUMENT) RUNE_FUZZ_TIME_LIMIT=$(FUZZ_TIME_LIMIT) \
	  timeout $$(( $(FUZZ_SECONDS) + 300 )) $(PY) -m fuzz.$$target \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_FLAGS) \
	    .fuzz/corpus/$$target fuzz/corpus/$$target $$crashes || exit 1; \
	done

# CI: each target for a short fixed budget from the kept corpora (run by .ci/run after
# the tests). Only the target modules are instrumented so that the budget is spent on
# inputs, and calls get a generous time limit (CI machines are shared).
fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=8 FUZZ_INSTRUMENT=target \
	  FUZZ_TIME_LIMIT=10

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

# RuneMiddleware's overhead per tool call of a LangChain agent, in-process and on rune serve.
bench-langchain: $(STAMP)
	$(PY) benchmarks/langchain_middleware.py

# A long schemathesis campaign against /openapi.json (CI runs a small one in `make test`).
fuzz-server: $(STAMP)
	RUNE_FUZZ_EXAMPLES=500 $(PY) -m pytest tests/server/test_openapi_fuzz.py -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples fuzz
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .fuzz
