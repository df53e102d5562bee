# Every entry point of the project. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
APPS := lease_app analytics_app batch_app
WORKLOAD_APPS := analytics_app batch_app
PYTEST_ARGS ?=
REGION ?= eu-central-1
STAGE ?= dev

.PHONY: help install vendor package lint format test lock clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt requirements/constraints.txt shared/pyproject.toml
	@echo "==> creating $(VENV) with pinned dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e shared
	@touch $@

install: $(STAMP) ## Create .venv and install pinned dependencies plus the shared distribution (editable)

vendor: $(STAMP) ## Copy shared/lease_core into each app's vendor/ (what chalice packages)
	$(BIN)/python -m lease_ops.vendoring $(APPS)

package: vendor ## Build each workload app's deployment package with `chalice package` into out/package/<app>
	@for app in $(WORKLOAD_APPS); do \
	  (cd $$app && AWS_DEFAULT_REGION=$(REGION) $(BIN)/chalice package --stage $(STAGE) ../out/package/$$app) || exit 1; \
	  echo "packaged $$app into out/package/$$app"; \
	done

lint: $(STAMP) ## Static checks: ruff lint and format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Rewrite the code in ruff's format and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) lint ## The whole suite: lint, unit tier, functional tier (moto)
	$(BIN)/pytest $(PYTEST_ARGS)

lock: ## Re-resolve requirements/dev.txt into requirements/constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements/dev.txt
	.lock-venv/bin/pip freeze --exclude-editable > requirements/constraints.txt
	rm -rf .lock-venv

clean: ## Remove the venv, vendored copies and outputs
	rm -rf $(VENV) out $(addsuffix /vendor,$(APPS)) .pytest_cache .ruff_cache .hypothesis
