# ZipBob Commerce — the two commands are `make run` and `make test` (see README).
# libs/zipbob-devkit (embedded servers, launcher, pytest plugin) is installed here, never in an image.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PROFILE ?= local
PACKAGES := libs/zipbob-platform libs/zipbob-devkit services/gateway services/catalog services/review services/resizer services/dispatcher services/web
PYTEST_ARGS ?=

.PHONY: install run test test-fast lint fmt bench clean dev-env

$(VENV)/.installed: requirements.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ZipBob needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	@$(UV) pip install --quiet --python $(PY) -r requirements.lock
	@$(UV) pip install --quiet --python $(PY) --no-deps $(foreach p,$(PACKAGES),$(if $(wildcard $(p)/pyproject.toml),-e $(p)))
	@touch $@

install: $(VENV)/.installed

run: install
	@ZIPBOB_PROFILE=$(PROFILE) exec $(PY) -m zipbob_devkit.launcher

dev-env: install
	@$(PY) scripts/dev_env.py

test: install
	@$(PY) scripts/check_test_services.py
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	@$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

fmt: install
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

bench: install
	@$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
