# One-command entry points. Everything is installed from uv.lock into .venv; uv itself
# goes into .tools/ so that a fresh machine needs only python3.11 and make.
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000

export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export RETAIL_DATA_DIR ?= $(CURDIR)/data
export PYTHONUNBUFFERED := 1

.PHONY: install dev dev-postgres run test lint bootstrap bench clean

install: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# First use: generate the sample data into incoming/ when there is no data at all; then
# ingest whatever waits in incoming/ (the same code the file sensor runs).
bootstrap: install
	@if [ ! -e "$(RETAIL_DATA_DIR)/store/transactions.parquet" ] && [ -z "$$(ls -A "$(RETAIL_DATA_DIR)/incoming" 2>/dev/null)" ]; then \
		echo "No data in $(RETAIL_DATA_DIR): generating the sample data set"; \
		$(BIN)/retail-pipeline sample; \
	fi
	@if [ -n "$$(ls -A "$(RETAIL_DATA_DIR)/incoming" 2>/dev/null)" ]; then $(BIN)/retail-pipeline ingest --pending; fi

# The first time, materialise everything once so the UI opens on real tables and charts.
dev: bootstrap
	$(BIN)/retail-pipeline run --if-never-run
	$(BIN)/dagster dev -h $(HOST) -p $(PORT) -w workspace.yaml

# Same, with the Dagster instance on PostgreSQL (DAGSTER_POSTGRES_URL, see README).
dev-postgres: DAGSTER_HOME := $(CURDIR)/deploy/postgres
dev-postgres: bootstrap
	$(BIN)/dagster dev -h $(HOST) -p $(PORT) -w workspace.yaml

run: bootstrap
	$(BIN)/retail-pipeline run

lint: install
	$(BIN)/ruff check .
	$(BIN)/dg check defs

test: lint
	$(BIN)/pytest -n 2 --dist loadfile -q -p no:cacheprovider

# The measurements behind BENCHMARKS.md (about 30 minutes on 2 cores; run on a quiet machine).
bench: install
	$(BIN)/python bench/ingest_throughput.py
	$(BIN)/python bench/ingest_latency.py
	$(BIN)/python bench/forecast_store_item.py
	$(BIN)/python bench/executor_choice.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
