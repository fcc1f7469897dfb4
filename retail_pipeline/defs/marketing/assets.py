"""Marketing assets: media-mix model, channel forecasts, budget recommendation, charts.

The computations live in ``retail_pipeline.marketing`` (numpy, scipy, the forecasting
package); these assets wire them to ``raw_marketing_spend`` and ``daily_sales``, the model
registry, the warehouse (history-mode tables keeping the newest
``RETAIL_HISTORY_KEEP_ROWS`` rows, default 1000) and the chart folder. Until marketing
spend is uploaded every table is empty (with its columns) rather than invented.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.defs.helpers import (
    TABLE_KINDS,
    chart_asset,
    config_from_settings,
    serve,
    settings_from_config,
)
from retail_pipeline.defs.io_manager import reads
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.marketing.settings import OUTCOME_INPUT_COLUMNS, BudgetSettings, MMMSettings
from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.platform.warehouse import History

GROUP = "marketing"
MODEL_KINDS = {"scipy", "pandas", "sql"}

MMMConfig = config_from_settings(
    "MMMConfig", MMMSettings,
    "Media-mix model: hyperparameter search, time-series validation, bootstrap, seed.",
    period_days=(int, Field(default=28, description="Planning period in days for the ROI "
                                                    "forecast (the next period at the recent "
                                                    "average budget).")),
    recent_periods=(int, Field(default=3, description="Periods averaged for the current "
                                                      "budget per channel.")),
)
BudgetConfig = config_from_settings(
    "BudgetConfig", BudgetSettings,
    "Budget allocation on the fitted response curves: total, bounds, target ROAS.",
    exclude=("period_days", "recent_periods"),
    channel_bounds=(dict[str, list[float]], Field(
        default={}, description="Bounds as amounts per period for some channels, e.g. "
                                "{\"tv\": [5000, 20000]}; they override the multiples.")),
)


class ChannelForecastConfig(dg.Config):
    """Forecast of reach, CTR, conversion rate and ROI per channel."""

    horizon: int = Field(default=28, description="Days to forecast after the last spend day.")
    n_folds: int = Field(default=3, description="Rolling-origin backtest folds.")
    models: list[str] = Field(default=["seasonal_naive", "global_hgb"],
                              description="Candidate models of the forecasting zoo.")
    history_days: int = Field(default=90, description="Days of history written beside the "
                                                      "forecast (actual vs predicted).")
    n_jobs: int = Field(default=2, description="Threads for the backtest tasks.")


@dg.multi_asset(
    group_name=GROUP,
    ins={"daily_sales": reads(OUTCOME_INPUT_COLUMNS)},
    outs={
        "media_mix_contributions": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="The media-mix model's decomposition of the outcome (an uploaded "
                        "`marketing_outcomes` series with its controls when there is one, "
                        "else net sales revenue from `daily_sales`) per date into baseline and channels (date, channel, "
                        "contribution). Geometric adstock + Hill per channel, baseline with "
                        "trend, season and weekday, ridge with non-negative media "
                        "coefficients; seeded search with time-series validation. Warehouse "
                        "table `media_mix_contributions`."),
        "ml_roi_forecast": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Per channel the ROI expected next period at the recent average "
                        "budget with its bootstrap interval, the marginal ROI, the historical "
                        "ROI and the fitted curve (coefficient, half saturation, shape, "
                        "decay). Warehouse history table `ml_roi_forecast` (id, created_at, "
                        "newest rows kept)."),
    },
)
def media_mix_model(context: dg.AssetExecutionContext, config: MMMConfig,
                    raw_marketing_spend: pd.DataFrame, raw_marketing_outcomes: pd.DataFrame,
                    daily_sales: pd.DataFrame, data_dir: DataDirResource, warehouse: WarehouseResource):
    from retail_pipeline.marketing.mmm import fit_mmm, prepare
    from retail_pipeline.marketing.tables import (
        ROI_FORECAST_COLUMNS,
        outcome_from_daily_sales,
        outcome_from_upload,
        roi_forecast_table,
    )

    if len(raw_marketing_outcomes):
        outcome, controls = outcome_from_upload(raw_marketing_outcomes)
        source = f"uploaded marketing_outcomes ({len(controls.columns)} controls)"
    else:
        outcome, controls, source = outcome_from_daily_sales(daily_sales), None, "net sales revenue"
    if raw_marketing_spend.empty or outcome.empty:
        status = "skipped: no marketing spend or no sales revenue yet"
        contributions = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"),
                                      "channel": pd.Series(dtype="str"),
                                      "contribution": pd.Series(dtype="float64")})
        roi = pd.DataFrame(columns=ROI_FORECAST_COLUMNS)
        meta = {}
    else:
        model = fit_mmm(prepare(raw_marketing_spend, outcome, controls),
                        settings_from_config(config, MMMSettings))
        contributions = model.contributions_long()
        roi = roi_forecast_table(model, config.period_days, config.recent_periods)
        record = ModelRegistry(data_dir.layout.models).save(
            "media_mix_model", model, model_type="adstock_hill_ridge",
            features=model.channels + model.baseline_names,
            training_window=[str(model.dates[0].date()), str(model.dates[-1].date())],
            metrics={"cv_nrmse": model.cv_nrmse}, params=config.model_dump())
        status = f"fitted on {len(model.dates)} rows of {source}; model {record.version}"
        meta = {"outcome": source, "cv_nrmse": float(model.cv_nrmse), "model_version": record.version,
                "evaluations": int(model.evaluations)}
    context.log.info(status)
    yield serve(context, warehouse, contributions, "media_mix_contributions",
                output_name="media_mix_contributions", status=status, **meta)
    yield serve(context, warehouse, roi, "ml_roi_forecast", current=False,
                history=History(index_columns=("channel",)), output_name="ml_roi_forecast",
                status=status)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "ml_roi_timeseries": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Per day and channel the trailing 7-day ROI (reported revenue, else "
                        "the media-mix model's attribution) and conversion rate, actual and "
                        "predicted (backtest forecasts over the history, the champion's "
                        "calibrated forecast over the horizon). Warehouse history table "
                        "`ml_roi_timeseries`."),
        "ml_reach_ctr_timeseries": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Per day and channel reach and trailing 7-day CTR, actual and "
                        "predicted, through the forecasting machinery. Warehouse history "
                        "table `ml_reach_ctr_timeseries`."),
    },
)
def channel_forecast(context: dg.AssetExecutionContext, config: ChannelForecastConfig,
                     raw_marketing_spend: pd.DataFrame, media_mix_contributions: pd.DataFrame,
                     warehouse: WarehouseResource):
    from retail_pipeline.marketing.channels import (
        REACH_COLUMNS,
        ROI_COLUMNS,
        channel_daily,
        channel_metrics,
        forecast_metrics,
        timeseries_tables,
    )

    metrics = channel_metrics(channel_daily(raw_marketing_spend), media_mix_contributions) \
        if len(raw_marketing_spend) else None
    if metrics is None or metrics.empty:
        forecast, status = None, "skipped: no marketing spend uploaded yet"
    else:
        forecast = forecast_metrics(metrics, config.horizon, config.n_folds, tuple(config.models),
                                    config.n_jobs)
        status = forecast.status
    roi, reach = timeseries_tables(forecast, metrics, config.history_days) if forecast else (
        pd.DataFrame(columns=ROI_COLUMNS), pd.DataFrame(columns=REACH_COLUMNS))
    context.log.info(status)
    yield serve(context, warehouse, roi, "ml_roi_timeseries", current=False,
                history=History(index_columns=("date", "channel")),
                output_name="ml_roi_timeseries", status=status)
    yield serve(context, warehouse, reach, "ml_reach_ctr_timeseries", current=False,
                history=History(index_columns=("date", "channel")),
                output_name="ml_reach_ctr_timeseries",
                status=status)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "ml_budget_rec": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="The recommended budget per channel for the next period: maximum "
                        "expected revenue on the fitted response curves for the total budget "
                        "(default the last period's spend) within per-channel bounds (default "
                        "0.5x-2x recent spend), or the target-ROAS mode; with predicted ROI, "
                        "conversion rate, cost per acquisition, marginal ROI, which bound binds "
                        "and a note saying when the split is unchanged. Warehouse history "
                        "table `ml_budget_rec`."),
        "response_curves": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Each channel's fitted response curve (expected revenue per period "
                        "and marginal ROI against budget) with the current and recommended "
                        "budgets. Warehouse table `response_curves`."),
    },
)
def budget_recommendation(context: dg.AssetExecutionContext, config: BudgetConfig,
                          ml_roi_forecast: pd.DataFrame, ml_roi_timeseries: pd.DataFrame,
                          raw_marketing_spend: pd.DataFrame, warehouse: WarehouseResource):
    from retail_pipeline.marketing.recommend import recommend

    plan = settings_from_config(config, BudgetSettings)
    result = recommend(ml_roi_forecast, ml_roi_timeseries, raw_marketing_spend, plan,
                       {k: (v[0], v[1]) for k, v in config.channel_bounds.items()})
    context.log.info(result.status)
    yield serve(context, warehouse, result.budget, "ml_budget_rec", current=False,
                history=History(index_columns=("channel",)), output_name="ml_budget_rec",
                status=result.status,
                **result.metadata)
    yield serve(context, warehouse, result.curves, "response_curves",
                output_name="response_curves", status=result.status)


CHARTS = "retail_pipeline.marketing.charts"

roi_forecast_chart = chart_asset(
    "marketing_roi_forecast_chart", group=GROUP, ins=["ml_roi_forecast"],
    draw=f"{CHARTS}:roi_forecast",
    description="ROI forecast per channel with bootstrap intervals and the marginal ROI")
roi_timeseries_chart = chart_asset(
    "marketing_roi_timeseries_chart", group=GROUP, ins=["ml_roi_timeseries"],
    draw=f"{CHARTS}:roi_timeseries",
    description="ROI and conversion rate over time per channel, actual against predicted")
reach_ctr_chart = chart_asset(
    "marketing_reach_ctr_chart", group=GROUP, ins=["ml_reach_ctr_timeseries"],
    draw=f"{CHARTS}:reach_ctr_timeseries",
    description="Reach and CTR over time per channel, actual against predicted")
budget_chart = chart_asset(
    "marketing_budget_chart", group=GROUP, ins=["ml_budget_rec"], draw=f"{CHARTS}:budget",
    description="Budget recommendation: pie of the recommended split, current vs recommended")
response_curves_chart = chart_asset(
    "marketing_response_curves_chart", group=GROUP, ins=["response_curves"],
    draw=f"{CHARTS}:response_curves",
    description="Response curves with the current and recommended budgets marked")
contributions_chart = chart_asset(
    "marketing_contributions_chart", group=GROUP, ins=["media_mix_contributions"],
    draw=f"{CHARTS}:contributions",
    description="Baseline and channel contributions to revenue over time, stacked")
