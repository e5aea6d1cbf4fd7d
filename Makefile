# RUNE's entry points; `.ci/run` calls `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test conformance fuzz bench bench-cedar bench-datalog bench-engine bench-writes lint clean

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
# fuzz/corpus/<target> (read only); new inputs go to .fuzz/corpus/<target>, crashes to
# .fuzz/artifacts/. `timeout` stops a target hung where signals cannot reach (C code).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= cedar_policy cedar_schema entities_request datalog engine_api bundle
FUZZ_FLAGS   ?=
fuzz: $(FUZZ_STAMP)
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p .fuzz/corpus/$$target; \
	  echo "== fuzz/$$target.py: $(FUZZ_SECONDS) s"; \
	  timeout $$(( $(FUZZ_SECONDS) + 300 )) $(PY) -m fuzz.$$target \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_FLAGS) \
	    .fuzz/corpus/$$target fuzz/corpus/$$target || exit 1; \
	done

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
	$(VENV)/bin/ruff check src tests benchmarks examples fuzz
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .fuzz
