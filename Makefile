# The project's commands. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
STACK ?= dev
A ?= staging
B ?= prod

.PHONY: help setup system-deps tools dev env test unit e2e lint fmt cluster-up cluster-down cluster-status preview up destroy render diff bench scale upgrade-rehearsal docs registrations bootstrap adopt-bootstrap secrets-provider clean

help: ## List the commands
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	@echo "==> creating $(VENV) and installing requirements.txt"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@echo "==> creating $(CHECKOV_VENV) (checkov's pins clash with pulumi's, so it lives apart)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

setup: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## Install the Python dependencies (idempotent)

# Debian's nginx (1.22, with the realip module) runs the rendered nginx.conf in the
# data-plane test. Without it that test is skipped with a warning, and fails under CI.
# The real node (devenv/real_node.py) needs containerd, runc and the CNI plugins; its
# images (devenv/images.py) are built from Debian packages with mmdebstrap and umoci.
# Its data plane (devenv/dataplane.py): nft for kube-proxy and the network's guard,
# iptables and ipset for kube-router's firewall, conntrack for kube-proxy.
SYSTEM_PACKAGES := nginx containerd runc containernetworking-plugins umoci mmdebstrap nftables iptables ipset conntrack
system-deps: ## Install the OS packages the tests use (Debian: nginx, containerd, runc, CNI, umoci, mmdebstrap, nftables, ipset)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "system packages present: $(SYSTEM_PACKAGES)"; else \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	  $$sudo service nginx stop >/dev/null 2>&1 || true; \
	  $$sudo service containerd stop >/dev/null 2>&1 || true; fi

tools: ## Build or reuse the pinned Go toolchain (Pulumi CLI, provider, control plane, kwok) and Azurite
	toolchain/build.sh
	toolchain/azurite.sh

dev: setup ## THE MAIN JOB: set everything up and deploy the dev stack to the local cluster
	$(PY) -m devenv.dev up

env: setup ## Shell exports for kubectl against the dev stack's cluster: eval "$$(make -s env)"
	@$(PY) -m devenv.dev env

test: setup lint unit ## Lint and run the unit tests (mocks; no cluster, no cloud)

# kube-score (toolchain/build.sh builds it, about 48 s the first time) runs over the rendered prod
# manifests in tests/test_kube_score.py; without it that test is skipped with a warning, and fails under CI.
unit: setup
	KUBE_SCORE_BIN="$$(toolchain/build.sh kube-score | tail -n 1)/kube-score" \
	  $(PY) -m pytest -m "not e2e" -n 3 --dist loadfile  # 3 workers on 2 cores: a third of the suite waits on subprocesses

e2e: setup tools ## Run the end-to-end tests on a private local cluster
	$(PY) -m pytest -m e2e

lint: setup ## ruff lint and format check, and actionlint on the workflows
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	"$$(toolchain/build.sh actionlint | tail -n 1)/actionlint" -color

fmt: setup ## Format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

cluster-up: setup tools ## Start the local cluster (3 kwok nodes; LOCAL_CLUSTER_REAL_NODE=1 adds a real node)
	$(PY) -m devenv.local_cluster up

cluster-down: setup ## Stop the local cluster and delete its state
	$(PY) -m devenv.local_cluster down

cluster-status: setup ## Show the local cluster's processes and nodes
	$(PY) -m devenv.local_cluster status

preview: setup ## pulumi preview of STACK (dev: local toolchain; prod/staging: your pulumi CLI)
ifeq ($(STACK),dev)
	$(PY) -m devenv.dev preview --diff
else
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi preview --stack $(STACK) --diff
endif

up: setup ## pulumi up of STACK (dev: local toolchain; prod/staging: your pulumi CLI)
ifeq ($(STACK),dev)
	$(PY) -m devenv.dev up
else
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi up --stack $(STACK)
endif

destroy: setup ## pulumi destroy of the dev stack
	$(PY) -m devenv.dev destroy

render: setup ## Render STACK's Kubernetes objects to build/manifests/STACK (offline)
	$(PY) -m offline.render $(STACK) build/manifests/$(STACK)

diff: setup ## Show what differs between stacks A and B: typed config and manifests
	$(PY) -m offline.diff $(A) $(B)

bench: setup ## Evaluation time and peak memory per stack, beside the bare SDK imports
	$(PY) -m offline.bench

upgrade-rehearsal: setup tools ## The CVE day's node upgrade (surge, cordon, drain, remove) on real nodes under traffic; root (≈2½ min)
	$(PY) -m devenv.rehearsal

scale: setup tools ## Dev loop at 1, 20 and 50 services through the real engine, on a private cluster (≈15 min)
	$(PY) -m devenv.scale

bootstrap: setup ## Once per subscription, signed in with `az login` as its Owner: state backend, secrets vault, identities, runners (docs/first-deploy.md)
	$(PY) bootstrap/admin.py up

adopt-bootstrap: setup ## Take the bootstrap's outputs: Pulumi.yaml's marked lines, the repository's settings (gh), staging and prod under azurekeyvault://
	$(PY) bootstrap/admin.py adopt

secrets-provider: setup ## Move STACK's secrets from its passphrase to its azurekeyvault:// key (PLATFORM_CONFIG_PASSPHRASE: the old one)
	$(PY) bootstrap/admin.py secrets-provider $(STACK)

docs: setup ## Regenerate docs/reference/configuration.md and bootstrap.md from the typed models
	$(PY) -m settings.reference

registrations: setup ## Dump every stack's registrations to build/registrations (compare two dumps: python -m offline.registrations --compare A B)
	$(PY) -m offline.registrations build/registrations

clean: ## Remove build output and virtualenvs (not the tools cache)
	rm -rf build $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
