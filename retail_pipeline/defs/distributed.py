"""``refresh_all_distributed``: the refresh on a Celery cluster, for when one machine is not enough.

The same selection as ``refresh_all``, run by ``dagster_celery``'s executor: the run worker
submits every step as a Celery task to ``RETAIL_CELERY_QUEUE`` on the broker
``RETAIL_CELERY_BROKER`` and any worker listening there (``make workers``) executes it. Steps
hand their DataFrames to each other through the Parquet IO manager under ``RETAIL_IO_BASE``,
which every worker must reach; runs and events go to the PostgreSQL instance of
``deploy/celery/dagster.yaml``.

Writes stay serialised where they can collide:

- Between runs: the job carries ``retail_pipeline/writes=warehouse`` like ``refresh_all``, and
  the run queue (``tag_concurrency_limits`` in dagster.yaml) starts one such run at a time.
- Within a run, every served table has exactly one writer step, and the warehouse writes each
  table in its own transaction (staging table, then drop and rename), so steps writing
  different tables may overlap: on PostgreSQL they lock different tables; on SQLite,
  ``BEGIN IMMEDIATE`` with a 60 s busy timeout makes the database itself take them one at a
  time. The store is not written by this job at all (ingestion runs write it, serialised by
  ``retail_pipeline/writes=store``). A Dagster concurrency pool (``pool="warehouse"`` on the
  serving assets, limit 1) would serialise whole steps, computation included, and take the
  parallelism away that this job exists for; the Celery executor honours pools, so one can be
  added if a warehouse ever needs single-writer access.

Per step, a worker pays a Celery round trip and the step's own event writes to PostgreSQL
(the code location is imported once per worker process, not per step); ``bench/celery_overhead.py``
measures it. On one machine ``refresh_all`` (in process) stays the faster choice.
"""

import dagster as dg
from dagster_celery import celery_executor

from retail_pipeline.defs import automation
from retail_pipeline.defs.forecasting import partitioned
from retail_pipeline.platform import settings


def celery_config() -> dict:
    """The executor's config, from the settings module (the workers read the same variables)."""
    return {
        "broker": settings.celery_broker(),
        "backend": settings.celery_backend(),
        # Steps go to this queue; dagster_celery's own default is the shared name "dagster".
        "config_source": {"task_default_queue": settings.celery_queue()},
    }


def _from_settings(_empty: dict) -> dict:
    return celery_config()


# A config function, not a dict: the settings are read when a run starts (in the process that
# submits the steps), not when the code location was first imported.
retail_celery_executor = celery_executor.configured(
    _from_settings, config_schema={}, name="retail_celery",
    description="dagster_celery's executor with broker, backend and queue from "
                "RETAIL_CELERY_BROKER, RETAIL_CELERY_BACKEND and RETAIL_CELERY_QUEUE.")

refresh_all_distributed = dg.define_asset_job(
    "refresh_all_distributed",
    selection=automation.refresh_all.selection,
    executor_def=retail_celery_executor,
    tags={automation.WRITES_TAG: "warehouse"},
    description="refresh_all on the Celery cluster (deploy/celery, `make workers`): each step "
                "is a Celery task on RETAIL_CELERY_QUEUE, outputs shared through RETAIL_IO_BASE. "
                "Runs one at a time with refresh_all (tag retail_pipeline/writes=warehouse).",
)

forecast_partitioned_distributed = dg.define_asset_job(
    "forecast_partitioned_distributed",
    selection=dg.AssetSelection.groups(partitioned.GROUP),
    partitions_def=partitioned.BUCKETS,
    executor_def=retail_celery_executor,
    tags={automation.WRITES_TAG: "warehouse"},
    description="forecast_partitioned_job on the Celery cluster: a backfill of every bucket "
                "runs each bucket's backtest and forecast as Celery tasks on any worker.",
)
