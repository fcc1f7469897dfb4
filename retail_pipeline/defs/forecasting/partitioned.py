"""The forecast partitioned into series buckets (issue 15): the same champions, work per bucket.

An alternative to the ``forecast`` multi-asset for panels too large for one step; the
logic is ``retail_pipeline.forecasting.buckets`` (read its docstring for what runs where and
what equals the unpartitioned run). Four assets, in group ``forecasting_partitioned``:

- ``forecast_bucket_backtest`` (one partition per bucket): the bucket's backtest errors;
  the only asset with forecast settings (``PartitionedForecastConfig``); they travel with
  its rows to the next steps, so the steps cannot disagree on them;
- ``forecast_bucket_champions``: reads every bucket's backtest, writes the leaderboard
  (warehouse ``forecast_leaderboard_partitioned``) and the champion, bias factor and
  conformal quantiles per level;
- ``forecast_bucket_forecast`` (one partition per bucket): the champions' forecasts of the
  bucket's share;
- ``sales_forecast_partitioned``: every bucket's forecast as one warehouse table.

The bucket count is ``RETAIL_FORECAST_BUCKETS`` (default 8), read when the code location
loads. ``forecast_partitioned_job`` selects the four. Many runs: a backfill of all
partitions; Dagster runs one run per bucket (in parallel, on any worker) and the two
unpartitioned assets once all buckets are done. One run: a run of the job over the partition
range (tags ``dagster/asset_partition_range_start=0`` and ``..._end=<n-1>``); each
partitioned asset then computes every bucket of the range and returns ``{bucket: frame}``,
which the project's ``ParquetIOManager`` stores as one file per partition. On the Celery
cluster the same assets run as ``forecast_partitioned_distributed`` (``defs/distributed.py``).
``buckets.run_partitioned_forecast`` does all buckets in one call without Dagster.
"""

import json
from dataclasses import asdict

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.defs.helpers import (
    TABLE_KINDS,
    config_from_settings,
    serve,
    settings_from_config,
    table_metadata,
)
from retail_pipeline.defs.io_manager import reads
from retail_pipeline.defs.resources import WarehouseResource
from retail_pipeline.forecasting.events import COUNTRY_COLUMNS
from retail_pipeline.forecasting.settings import ForecastSettings
from retail_pipeline.platform import settings as env

GROUP = "forecasting_partitioned"
BUCKETS = dg.StaticPartitionsDefinition([str(i) for i in range(env.forecast_buckets())])
# the bucket steps read daily_sales only for the holiday country
COUNTRY_IN = reads(COUNTRY_COLUMNS)
PLAN_COLUMNS = ["settings", "n_buckets", "pooling"]  # carried on every backtest row

PartitionedForecastConfig = config_from_settings(
    "PartitionedForecastConfig", ForecastSettings,
    "Forecast settings of the partitioned forecast (the same knobs as the forecast asset).",
    exclude=("forest_max_train_rows", "forest_trees", "forest_max_depth",
             "speculative_final_fit"),
    pooling=(str, Field(default="level", description=(
        "`level`: each pooled model (seasonal profile, gradient boosting, forest) runs once "
        "on its whole level in one bucket, so every number equals the unpartitioned forecast; "
        "`bucket`: each bucket fits the pooled models on its own series (spreads that work "
        "too, but the pooled models then see only a bucket's series)."))),
)


def _plan(panel: pd.DataFrame, daily_sales: pd.DataFrame, settings: ForecastSettings,
          n_buckets: int, pooling: str):
    from retail_pipeline.forecasting.buckets import plan_buckets
    from retail_pipeline.forecasting.events import country_of
    from retail_pipeline.forecasting.pipeline import settings_calendar

    calendar = settings_calendar(settings, country_of(daily_sales, None))
    return plan_buckets(panel, settings, n_buckets, calendar=calendar, pooling=pooling)


def _per_bucket(context: dg.AssetExecutionContext, frames: dict[str, pd.DataFrame],
                **metadata) -> dg.Output:
    """One partition's frame, or ``{partition key: frame}`` for a run over several buckets."""
    keys = list(context.partition_keys)
    value = frames[keys[0]] if len(keys) == 1 else {k: frames[k] for k in keys}
    rows = {f"rows_bucket_{k}": len(frames[k]) for k in keys}
    if len(keys) == 1:
        return dg.Output(value, metadata=table_metadata(value, bucket=int(keys[0]), **metadata))
    return dg.Output(value, metadata={"buckets": ", ".join(keys), **rows, **metadata})


@dg.asset(group_name=GROUP, partitions_def=BUCKETS, kinds={"pandas"},
          ins={"daily_sales": COUNTRY_IN},
          description="One series bucket's rolling-origin backtest (level, series, model, fold, "
                      "day, actual, forecast): its products' series with the per-series models, "
                      "and the pooled models' whole levels assigned to this bucket. Every row "
                      "carries the settings used. Empty without enough history.")
def forecast_bucket_backtest(context: dg.AssetExecutionContext, config: PartitionedForecastConfig,
                             forecast_panel: pd.DataFrame, daily_sales: pd.DataFrame) -> dg.Output:
    from retail_pipeline.forecasting.backtest import ERROR_COLUMNS
    from retail_pipeline.forecasting.buckets import bucket_backtest
    from retail_pipeline.forecasting.pipeline import has_enough_history

    settings = settings_from_config(config, ForecastSettings)
    n_buckets = len(BUCKETS.get_partition_keys())
    enough = has_enough_history(forecast_panel, settings)
    plan = (_plan(forecast_panel, daily_sales, settings, n_buckets, config.pooling)
            if enough else None)
    frames = {}
    for key in context.partition_keys:
        errors = (bucket_backtest(plan, int(key)) if plan is not None
                  else pd.DataFrame(columns=ERROR_COLUMNS))
        frames[key] = errors.assign(settings=json.dumps(asdict(settings), sort_keys=True),
                                    n_buckets=n_buckets, pooling=config.pooling)
    status = "backtested" if enough else "skipped: not enough sales history for a backtest"
    models = sorted({m for f in frames.values() for m in f["model"].unique()})
    return _per_bucket(context, frames, status=status, models=", ".join(models) or "-")


@dg.multi_asset(
    group_name=GROUP,
    ins={"forecast_bucket_backtest": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
         "daily_sales": COUNTRY_IN},
    outs={
        "forecast_bucket_champions": dg.AssetOut(
            kinds={"pandas"},
            description="The champion per level chosen from every bucket's backtest (the "
                        "unpartitioned rule), with its bias factor and conformal quantiles per "
                        "horizon bucket, and the settings: what each bucket's forecast needs."),
        "forecast_leaderboard_partitioned": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="The leaderboard of the partitioned forecast, from every bucket's "
                        "backtest; columns as `forecast_leaderboard`. Warehouse table "
                        "`forecast_leaderboard_partitioned`."),
    },
)
def forecast_bucket_champions(context: dg.AssetExecutionContext,
                              forecast_bucket_backtest: dict[str, pd.DataFrame],
                              forecast_panel: pd.DataFrame, daily_sales: pd.DataFrame,
                              warehouse: WarehouseResource):
    from retail_pipeline.forecasting.backtest import LEADERBOARD_COLUMNS
    from retail_pipeline.forecasting.buckets import CHAMPION_COLUMNS, Champions, combine_backtests

    parts = [forecast_bucket_backtest[k] for k in sorted(forecast_bucket_backtest, key=int)]
    plans = {tuple(p[c].iloc[0] for c in PLAN_COLUMNS) for p in parts if len(p)}
    if len(plans) > 1:
        raise ValueError("the buckets of forecast_bucket_backtest were materialised with "
                         f"different settings or bucket counts ({len(plans)} variants): "
                         "backfill every partition with the same config")
    if plans:
        settings_json, n_buckets, pooling = plans.pop()
        values = json.loads(settings_json)
        settings = ForecastSettings(**{**values, "models": tuple(values["models"])})
        plan = _plan(forecast_panel, daily_sales, settings, int(n_buckets), pooling)
        champions = combine_backtests(plan, [p.drop(columns=PLAN_COLUMNS) for p in parts])
        frame, board = champions.to_frame(plan), champions.leaderboard
        status = f"champions: {champions.champions}"
    else:
        frame = pd.DataFrame(columns=CHAMPION_COLUMNS)
        board = pd.DataFrame(columns=LEADERBOARD_COLUMNS)
        champions = Champions(board, {}, {}, {})
        status = "skipped: no backtest rows in any bucket"
    context.log.info(status)
    yield dg.Output(frame, output_name="forecast_bucket_champions", metadata=table_metadata(
        frame, status=status, **{f"champion_{lv}": m for lv, m in champions.champions.items()},
        **{f"bias_factor_{lv}": float(f) for lv, f in champions.bias_factors.items()}))
    yield serve(context, warehouse, board, "forecast_leaderboard_partitioned",
                output_name="forecast_leaderboard_partitioned", status=status)


@dg.asset(group_name=GROUP, partitions_def=BUCKETS, kinds={"pandas"},
          ins={"daily_sales": COUNTRY_IN},
          description="One series bucket's forecast: each level's champion fitted on the "
                      "bucket's share of the history, scaled by the level's bias factor, with "
                      "the level's conformal 80% interval; columns as `sales_forecast`.")
def forecast_bucket_forecast(context: dg.AssetExecutionContext, forecast_panel: pd.DataFrame,
                             daily_sales: pd.DataFrame,
                             forecast_bucket_champions: pd.DataFrame) -> dg.Output:
    from retail_pipeline.forecasting.buckets import (
        Champions,
        bucket_forecast,
        combine_forecasts,
        settings_from_frame,
    )

    if forecast_bucket_champions.empty:
        frames = {k: combine_forecasts([]) for k in context.partition_keys}
        return _per_bucket(context, frames, status="skipped: no champions (not enough history)")
    settings, n_buckets, pooling = settings_from_frame(forecast_bucket_champions)
    if n_buckets != len(BUCKETS.get_partition_keys()):
        raise ValueError(f"forecast_bucket_champions was made for {n_buckets} buckets, the "
                         f"code location has {len(BUCKETS.get_partition_keys())} "
                         "(RETAIL_FORECAST_BUCKETS changed): backfill every bucket again")
    plan = _plan(forecast_panel, daily_sales, settings, n_buckets, pooling)
    champions = Champions.from_frame(forecast_bucket_champions)
    frames = {k: bucket_forecast(plan, champions, int(k)) for k in context.partition_keys}
    return _per_bucket(context, frames, status="forecast",
                       series=sum(int(f["series_id"].nunique()) for f in frames.values()))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          ins={"forecast_bucket_forecast": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())},
          description="Every bucket's forecast as one table, columns and order as "
                      "`sales_forecast`. Warehouse table `sales_forecast_partitioned`.")
def sales_forecast_partitioned(context: dg.AssetExecutionContext,
                               forecast_bucket_forecast: dict[str, pd.DataFrame],
                               warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.buckets import combine_forecasts

    frame = combine_forecasts([forecast_bucket_forecast[k]
                               for k in sorted(forecast_bucket_forecast, key=int)])
    return serve(context, warehouse, frame, "sales_forecast_partitioned",
                 buckets=len(forecast_bucket_forecast))


forecast_partitioned_job = dg.define_asset_job(
    "forecast_partitioned_job",
    selection=dg.AssetSelection.groups(GROUP),
    partitions_def=BUCKETS,
    # like refresh_all: a subprocess per step costs seconds of imports (bench/forecast_buckets.py)
    executor_def=dg.in_process_executor,
    description="The partitioned forecast (forecast_bucket_backtest -> forecast_bucket_champions "
                "-> forecast_bucket_forecast -> sales_forecast_partitioned); launch it as a "
                "backfill of all buckets. Needs forecast_panel and daily_sales materialised.",
)
