# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test typecheck lint bench clean fuzz sync-herd docs compiled clean-compiled

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Variants are independent searches: run-all -j checks them side by side, one per CPU.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

run: $(STAMP)
	$(BIN)/stalecheck run-all -j $(JOBS)
	$(BIN)/stalecheck stress fcvm-vsock-nv2 --runs 20 --jobs 2

# mypy --strict first (pyproject.toml [tool.mypy]), then the tests.
test: typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

# The fuzz tests of the suite with many more (and fresh) inputs: for before a release.
fuzz: $(STAMP)
	STALECHECK_FUZZ_EXAMPLES=20000 $(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/badinput/test_fuzz.py

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check stalecheck tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/explore_speed.py
	$(BIN)/python benchmarks/litmus_speed.py

# The reference manual (mkdocs + mkdocstrings) in build/site; tests/test_docs.py, run by
# `make test`, already checks the pages against the grammar and the code.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict

# Re-copy the vendored herd7 data from the team's ../shared/litmus (see tests/data/README.md).
sync-herd:
	$(PYTHON) tests/data/sync_herdtools7.py

# Opt-in: the hot modules (stalecheck/compiled.py) built with mypyc as extension modules beside
# their .py files, which Python imports first; clean-compiled removes them (pure Python again).
# run/test never build them, so CI needs no compiler. setuptools>=77 reads our pyproject.toml.
compiled: $(STAMP)
	$(BIN)/python -m pip install --quiet 'setuptools>=77'
	$(BIN)/python compiled_build.py
	$(BIN)/stalecheck --version

clean-compiled:
	find stalecheck -name '*.so' -delete
	rm -rf build

clean: clean-compiled
	rm -rf $(VENV)
