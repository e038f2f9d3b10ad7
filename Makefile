# Two commands on a fresh machine: `make demo` runs the pipeline on the embedded local stack,
# `make test` runs the tests. Both install what they need and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEVSTACK := PYTHONPATH=plugins:. $(PY) -m devstack
# When the make command started: each demo step prints the time since (devstack/clock.py).
ifndef PEG_MAKE_STARTED
PEG_MAKE_STARTED := $(shell date +%s)
endif
export PEG_MAKE_STARTED
SINCE_START = printf '%-10s ready  (+%s s since make started)\n' $(1) $$(( $$(date +%s) - $(PEG_MAKE_STARTED) ))

.PHONY: demo test install browser services-packages dbt-manifest stack-up stack-down stack-status airflow-init lint clean

# The stack's services; Airflow's DB, the dbt manifest, the dashboard and Airflow beside the chain's
# history replay; then the data.
demo: install services-packages
	$(DEVSTACK) demo

# Two xdist workers: one file (or one group of files that share something, tests/conftest.py) at a
# time on each, so a test waiting on a chain, a cluster or an oracle leaves the other core working.
TEST_WORKERS ?= 2

test: install browser services-packages dbt-manifest
	$(PY) -m pytest -n $(TEST_WORKERS)

install: $(VENV)/.installed node_modules/.installed
	@$(call SINCE_START,install)

# uv installs the same pinned set as pip (every package is pinned in constraints.txt) in about 15 s
# instead of about 3 minutes: most of a newcomer's first `make demo` was pip. Unlike pip, uv writes
# no bytecode unless asked: where PYTHONDONTWRITEBYTECODE is set (CI here), every Airflow, dbt and
# Streamlit process would compile its imports again (importing Airflow's SDK, SQLAlchemy and pandas:
# 12 s instead of 4 s on this 2-core machine), so the last install compiles the whole venv once
# (`--compile-bytecode` covers every package in it, not only the one installed; about 40 s).
UV_VERSION := 0.9.30
UV := $(VENV)/bin/uv pip install --python $(PY) -q

$(VENV)/.installed: requirements.txt dbt-requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) -r requirements-dev.txt -c constraints.txt
	$(UV) --no-deps --no-build-isolation --compile-bytecode -e .
	touch $@

# Debian's Chromium for the dashboard's headless-browser test (Playwright drives it; it never
# downloads a browser of its own).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Debian's PostgreSQL 15 (Airflow's metadata DB) and Redis (the Celery broker): the local stack runs its
# own servers of them on their own ports, with their data in .stack/.
services-packages:
	@compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && command -v redis-server >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq postgresql-15 redis-server >/dev/null)
	@$(call SINCE_START,packages)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

dbt-manifest: install
	$(DEVSTACK) dbt-manifest

stack-up: install services-packages
	$(DEVSTACK) up

stack-down:
	$(DEVSTACK) down

stack-status:
	$(DEVSTACK) status

airflow-init: install
	$(DEVSTACK) airflow-init

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sqlfluff lint include/dbt

clean: stack-down
	rm -rf .stack

# What the Dockerfile's image would run, checked without Docker: requirements.txt resolved on Astro
# Runtime 3.3-1's Python and providers, the image's installs against the tested versions, and one daily
# run with dbt from a virtualenv laid out as in the image (part of `make test` too).
.PHONY: image-check
image-check: install dbt-manifest
	$(PY) -m pytest tests/deploy
