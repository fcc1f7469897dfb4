# One-command entry points. Everything is installed from uv.lock into .venv; uv itself
# goes into .tools/ so that a fresh machine needs only python3.11 and make.
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# The UI's address: RETAIL_HOST / RETAIL_PORT, never HOST (many shells export HOST=<hostname>).
RETAIL_HOST ?= 127.0.0.1
RETAIL_PORT ?= 3000

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
	$(BIN)/dg dev --host $(RETAIL_HOST) --port $(RETAIL_PORT)

# Same, with the Dagster instance on PostgreSQL (DAGSTER_POSTGRES_URL, see README).
dev-postgres: DAGSTER_HOME := $(CURDIR)/deploy/postgres
dev-postgres: bootstrap
	$(BIN)/dg dev --host $(RETAIL_HOST) --port $(RETAIL_PORT)

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

# --- The Celery cluster (deploy/celery; README "The cluster") ---------------------------------
# Every machine: the same code and uv.lock, DAGSTER_POSTGRES_URL, and the RETAIL_* settings
# (RETAIL_DATA_DIR, RETAIL_IO_BASE, RETAIL_WAREHOUSE_URL, RETAIL_CELERY_*) pointing at the
# same places. `make workers N=2` starts N workers in the background, each in its own process
# group (pid and log under deploy/celery/workers/); `make workers-stop` ends those groups.
N ?= 2
CELERY_HOME := $(CURDIR)/deploy/celery
CELERY_WORKERS := $(CELERY_HOME)/workers
# A setting's value (default included) from retail_pipeline/platform/settings.py. The workers
# need the venv on PATH: dagster-celery starts `celery` from there.
setting = $(shell $(BIN)/python -c "from retail_pipeline.platform import settings; print(settings.$(1)())")

.PHONY: workers workers-stop dev-celery

workers: DAGSTER_HOME := $(CELERY_HOME)
workers: install
	@test -n "$$DAGSTER_POSTGRES_URL" || { echo "DAGSTER_POSTGRES_URL is not set (postgresql+psycopg2://USER@HOST:5432/DB)"; exit 1; }
	@mkdir -p "$(CELERY_WORKERS)"
	@export RETAIL_CELERY_BROKER='$(call setting,celery_broker)' RETAIL_CELERY_BACKEND='$(call setting,celery_backend)' \
		PATH="$(CURDIR)/$(BIN):$$PATH"; \
	queue='$(call setting,celery_queue)'; \
	for i in $$(seq 1 $(N)); do \
		name="retail-$$i"; log="$(CELERY_WORKERS)/$$name.log"; \
		setsid $(BIN)/dagster-celery worker start -A dagster_celery.app -y "$(CELERY_HOME)/celery.yaml" \
			-q "$$queue" -n "$$name" -- --concurrency=1 >"$$log" 2>&1 </dev/null & \
		echo $$! >"$(CELERY_WORKERS)/$$name.pid"; \
		echo "worker $$name@$$(hostname) on queue $$queue: process group $$!, log $$log"; \
	done

workers-stop:
	@for pidfile in "$(CELERY_WORKERS)"/*.pid; do \
		[ -e "$$pidfile" ] || continue; \
		kill -TERM "-$$(cat "$$pidfile")" 2>/dev/null && echo "stopped process group $$(cat "$$pidfile")"; \
		rm -f "$$pidfile"; \
	done

# The UI and the daemon on the cluster's instance (runs, events and schedules in PostgreSQL).
dev-celery: DAGSTER_HOME := $(CELERY_HOME)
dev-celery: bootstrap
	@test -n "$$DAGSTER_POSTGRES_URL" || { echo "DAGSTER_POSTGRES_URL is not set (postgresql+psycopg2://USER@HOST:5432/DB)"; exit 1; }
	DAGSTER_HOME="$(CELERY_HOME)" $(BIN)/dg dev --host $(RETAIL_HOST) --port $(RETAIL_PORT)
