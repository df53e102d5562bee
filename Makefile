# Every entry point of the project. `make help` lists them.
# Where to act: platform.toml, overridden by REGION=, TABLE=, STAGE= (command line or environment).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
OPS := $(BIN)/python -m lease_ops
OVERRIDES := $(if $(REGION),--region $(REGION)) $(if $(TABLE),--table $(TABLE)) $(if $(STAGE),--stage $(STAGE))
N ?= 5
PYTEST_ARGS ?=
ARGS ?=

.PHONY: help install vendor package lint format test lock clean demo local sandbox chaos bench burst bootstrap deploy caps workflows run watch dashboard destroy workload

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# One resolution, no --no-deps: the pins, and shared/ editable with what its pyproject declares (the ops
# extra included) held to the same constraints, so that a declared range which excludes a pin fails here.
$(STAMP): requirements/dev.txt requirements/constraints.txt shared/pyproject.toml
	@echo "==> creating $(VENV) with pinned dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt -e "./shared[ops]"
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "==> installing pinned node tools (asl-validator)"
	npm ci --silent --no-audit --no-fund
	@touch $@

install: $(STAMP) $(NODE_STAMP) ## Create .venv (pinned Python dependencies, shared/ editable) and node_modules

vendor: $(STAMP) ## Copy shared/lease_core into each app's vendor/ (what chalice packages)
	$(OPS) vendor

package: $(STAMP) ## CloudFormation templates of the stage into out/package (offline): 3 apps, table, workflows; prints the deploy sequence (BUCKET=)
	$(OPS) package $(OVERRIDES) $(if $(BUCKET),--s3-bucket $(BUCKET)) $(ARGS)

lint: $(STAMP) $(NODE_STAMP) ## ruff; cfn-lint on every template `make package` writes; asl-validator and the lease check on every rendered definition
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@rm -rf out/lint && mkdir -p out/lint && $(OPS) package --out out/lint/package > out/lint/package.log 2>&1 || (cat out/lint/package.log; exit 1)
	$(BIN)/cfn-lint out/lint/package/*/sam.json out/lint/package/platform/*.json
	$(OPS) render --account-id 000000000000 --quiet --out out/lint/definitions
	$(OPS) render --account-id 000000000000 --quiet --wait-mode handoff --out out/lint/definitions-handoff
	@for definition in out/lint/definitions*/*.asl.json; do node_modules/.bin/asl-validator --json-path $$definition || exit 1; done
	@for definition in out/lint/definitions*/*.asl.json; do $(OPS) check $$definition --guarded Process || exit 1; done

format: $(STAMP) ## Rewrite the code in ruff's format and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) ## Every workflow end to end on an embedded moto, no AWS account (ARGS="--fail-fraction 0.2 ...")
	$(OPS) demo $(OVERRIDES) $(ARGS)

local: $(STAMP) ## lease_app's API under `chalice local` on an embedded moto with executions running (PORT=8000)
	$(OPS) local $(OVERRIDES) --port $(or $(PORT),8000) $(ARGS)

sandbox: $(STAMP) ## An empty AWS stand-in on 127.0.0.1 for bootstrap...destroy, executions run locally (PORT=5005)
	$(OPS) sandbox $(if $(REGION),--region $(REGION)) $(if $(PORT),--port $(PORT)) $(ARGS)

chaos: $(STAMP) ## Every fault scenario, full size, with its invariant violations (must be 0); ARGS=--quick is short
	$(OPS) chaos $(ARGS)

bench: $(STAMP) ## This core against count-then-put and counter-and-owner; rewrites benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks $(ARGS)

burst: $(STAMP) ## A region's burst in simulated time (10,000 executions, cap 100; ARGS to resize); writes benchmarks/BURST.md
	$(BIN)/python -m benchmarks.burst $(ARGS)

test: lint ## The whole suite: lint, unit tier, functional tier (moto), quick chaos; on every core
	$(BIN)/pytest -n auto --dist worksteal --durations=10 $(PYTEST_ARGS)

bootstrap: $(STAMP) ## Create or update the lease table (ARGS=--dry-run prints the plan)
	$(OPS) bootstrap $(OVERRIDES) $(ARGS)

deploy: $(STAMP) ## Vendor, `chalice deploy` every app of platform.toml; then write the configured caps
	$(OPS) deploy $(OVERRIDES) $(ARGS)

caps: $(STAMP) ## Write each workload's configured cap into the table (printing old → new)
	$(OPS) caps $(OVERRIDES) $(ARGS)

workflows: $(STAMP) ## Create or update each workflow's IAM role and state machine (ARGS=--dry-run)
	$(OPS) workflows $(OVERRIDES) $(ARGS)

run: $(STAMP) ## Start N executions per workflow (N=5) and follow them; fails if any fails
	$(OPS) run $(OVERRIDES) --executions $(N) $(ARGS)

watch: $(STAMP) ## Live view of every prefix: holders/cap, queued, oldest holder, admissions/s (ARGS="--interval 5", --once)
	$(OPS) watch $(OVERRIDES) $(ARGS)

dashboard: $(STAMP) ## Create or update the CloudWatch dashboard of the lease metrics (ARGS=--dry-run prints it)
	$(OPS) dashboard $(OVERRIDES) $(ARGS)

destroy: $(STAMP) ## Remove state machines, roles, apps and the dashboard; the table too with DESTROY_TABLE=1
	$(OPS) destroy $(OVERRIDES) $(if $(filter 1 yes true,$(DESTROY_TABLE)),--destroy-table) $(ARGS)

workload: $(STAMP) ## New workload NAME_app with cap CAP, its test and platform.toml table (WAIT=poll|handoff, TTL=s)
	@[ -n "$(NAME)" ] && [ -n "$(CAP)" ] || { echo "error: usage: make workload NAME=<prefix> CAP=<n> [WAIT=poll|handoff] [TTL=<seconds>]" >&2; exit 2; }
	$(OPS) new-workload --name '$(NAME)' --cap '$(CAP)' $(if $(WAIT),--wait-mode '$(WAIT)') $(if $(TTL),--ttl '$(TTL)') $(ARGS)

lock: ## Re-resolve requirements/dev.txt and shared/pyproject.toml's dependencies into requirements/constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements/dev.txt -e "./shared[ops]"
	.lock-venv/bin/pip freeze --exclude-editable > requirements/constraints.txt
	rm -rf .lock-venv

clean: ## Remove the venv, node_modules, vendored copies and outputs
	rm -rf $(VENV) node_modules out */vendor .pytest_cache .ruff_cache .hypothesis
