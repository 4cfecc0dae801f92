# Settle — the two commands that matter: `make demo` (main job) and `make test` (all tests).
# Every target sets up what it needs first; re-running is cheap (stamps skip work that is current).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := node_modules/.bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup build portal-assets test test-python test-forge slither brownie-check typecheck lint demo bench clean help

help:
	@echo "make demo    set up everything and run the end-to-end demo"
	@echo "make demo-serve  the demo, then its dashboard on the demo's data until Ctrl-C"
	@echo "make test    set up everything and run all tests (mypy, pytest, forge, slither, brownie check)"
	@echo "make setup | build | lint | typecheck | bench | brownie-check | clean"

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@tools/ensure-system
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@tools/ensure-system
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: setup portal-assets
	$(VENV)/bin/settle build

# The dashboard's browser libraries (pinned in package.json, no CDN), copied next to its own static files; the
# folder is build output (gitignored) and ships in the gateway's package data.
PORTAL_VENDOR := gateway/portal/web/static/vendor
portal-assets: node_modules/.installed
	@mkdir -p $(PORTAL_VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(PORTAL_VENDOR)/

test: typecheck test-python test-forge slither brownie-check

# One pytest worker per core (pytest-xdist), each taking whole test files: a file's module fixtures (a gateway,
# a served app) are made once, and every worker has its own chain and scratch databases. PYTEST_WORKERS=0 runs
# in one process.
PYTEST_WORKERS ?= auto
test-python: build
	@tools/ensure-postgres
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test-forge: setup
	tools/forge test

slither: setup
	tools/slither-check

brownie-check: setup
	tools/brownie-check

# mypy over settle, settle_cli, oracle and gateway: what it checks and how is [tool.mypy] in pyproject.toml.
typecheck: setup
	$(VENV)/bin/mypy

lint: setup typecheck
	$(VENV)/bin/ruff check settle settle_cli oracle gateway scripts tests benchmarks
	$(VENV)/bin/ruff format --check settle settle_cli oracle gateway scripts tests benchmarks
	tools/forge fmt --check contracts tests/contracts

demo: build
	$(VENV)/bin/settle demo

demo-serve: build
	$(VENV)/bin/settle demo --serve

bench: build
	$(PY) benchmarks/gas.py
	$(PY) benchmarks/oracle_throughput.py --records 200000
	$(PY) benchmarks/gateway.py
	$(PY) benchmarks/cli.py
	$(PY) benchmarks/reconciliation.py
	$(PY) benchmarks/receivables.py
	$(PY) benchmarks/api.py --db sqlite
	$(PY) benchmarks/api.py --db postgres

clean:
	rm -rf build .settle .pytest_cache .hypothesis .mypy_cache
