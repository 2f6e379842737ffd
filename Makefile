# Counterflow: two commands a new user needs, `make demo` and `make test`.
# Each installs what it needs itself: a virtualenv at .venv with the `counterflow`
# command, and the Debian packages the tests use (apt-get when root; otherwise it
# stops and prints the command to run).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEB_PACKAGES := postgresql

.PHONY: demo test check lint typecheck proto proto-check venv system-deps bench clean

demo: $(STAMP)
	$(BIN)/counterflow demo --workdir .demo --policies policies

test: $(STAMP) system-deps
	$(BIN)/python scripts/gen_proto.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy counterflow hub node
	$(BIN)/lint-imports
	eval "$$(bash scripts/pg-test-server.sh)" && \
	  $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Counterflow needs Python 3.11; set PYTHON=/path/to/python3.11")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh $(DEB_PACKAGES)

proto: $(STAMP)
	$(BIN)/python scripts/gen_proto.py

bench: $(STAMP)
	$(BIN)/python bench/bench_node_tokenise.py
	$(BIN)/python bench/bench_hub_ingest.py

clean:
	rm -rf .demo build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
