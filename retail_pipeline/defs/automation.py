"""The job that refreshes everything and the schedule that runs it every 30 minutes.

The refresh runs in one process: its steps are many small pandas and scikit-learn
computations, and a subprocess per step (the default multiprocess executor) costs 3 to 4
seconds of imports each on this hardware, more than most steps take (see BENCHMARKS.md).
"""

import dagster as dg

# Runs that write carry this tag; dagster.yaml limits each value to one run at a time.
WRITES_TAG = "retail_pipeline/writes"

refresh_all = dg.define_asset_job(
    "refresh_all",
    # the bucket-partitioned forecast runs in its own job (forecast_partitioned_job)
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("uploads", "forecasting_partitioned"),
    executor_def=dg.in_process_executor,
    tags={WRITES_TAG: "warehouse"},
    description="Materialise every table, model and chart from the consolidated tables. Runs "
                "one at a time (tag retail_pipeline/writes=warehouse, limit 1 in dagster.yaml).",
)

every_30_minutes = dg.ScheduleDefinition(
    name="refresh_every_30_minutes",
    job=refresh_all,
    cron_schedule="*/30 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Keeps every table, forecast and chart at most 30 minutes behind the uploads.",
)
