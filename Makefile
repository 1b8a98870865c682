# The one entry point. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Debian packages the project needs at run time (installed by `make setup` when missing).
APT_PACKAGES ?= chromium ffmpeg espeak-ng fonts-nanum fonts-noto-color-emoji fonts-noto-core prometheus prometheus-alertmanager kcat
export APT_PACKAGES

.DEFAULT_GOAL := help

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## install apt packages, the venv and pinned Python deps (idempotent)
	@tools/setup.sh

.PHONY: run
run: setup ## run the main job on embedded defaults (munjero demo)
	$(VENV)/bin/munjero demo

.PHONY: up
up: setup ## keep the whole factory running (broker, registry, API, workers, sink)
	$(VENV)/bin/munjero up

.PHONY: test
test: setup ## lint, type-check, schema compatibility, then unit + integration tests
	$(MAKE) --no-print-directory lint
	$(PY) -m schemas.compat_check
	$(MAKE) --no-print-directory k8s-validate
	@# Two phases: what may share the machine runs on both cores (a file stays on one worker,
	@# so its module fixtures are built once), then whole factories and timed bounds alone.
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile -m "not alone"
	$(PY) -m pytest -q -p no:cacheprovider -m alone

.PHONY: k8s-validate
k8s-validate: setup ## render base + overlays with the real kubectl kustomize, validate every object
	$(PY) -m factory.generate --check
	$(PY) -m tools.k8s_validate

.PHONY: unit
unit: setup ## fast unit tests only
	$(PY) -m pytest -q -m "not integration" tests/unit

.PHONY: lint
lint: setup ## ruff, mypy --strict, import-linter layer contracts, generated files in sync
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m schemas.codegen --check

.PHONY: fmt
fmt: setup ## auto-format
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: generate
generate: setup ## regenerate checked-in files from the topic catalogue (DDL, Strimzi topics)
	$(PY) -m factory.generate

.PHONY: bench
bench: setup ## benchmarks: API accept rate, ClickHouse ingestion vs raw consume
	$(PY) -m tests.bench.run

.PHONY: lock
lock: ## re-resolve pinned dependencies into requirements.lock (torch excluded: see tools/setup.sh)
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 \
		--override tools/torch-override.txt -o requirements.lock.tmp
	grep -vE '^(torch|triton|nvidia-)[a-z0-9-]*==' requirements.lock.tmp > requirements.lock
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 \
		--override tools/torch-override.txt -o requirements.lock.tmp
	# The images install runtime dependencies only (no test tools).
	grep -vE '^(torch|triton|nvidia-)[a-z0-9-]*==' requirements.lock.tmp > requirements-runtime.lock
	rm requirements.lock.tmp

.PHONY: clean
clean: ## remove embedded state (.munjero) and caches
	rm -rf .munjero .mypy_cache .ruff_cache
