"""Company revenue forecast: uploaded revenue histories forecast 30 days ahead per company.

The computation lives in ``retail_pipeline.forecasting.company`` (which calls the
forecasting pipeline); this asset wires it to ``raw_revenue_history``, the model registry
and the warehouse. A company with fewer than 10 data points gets no forecast; the asset
check ``company_revenue_history_is_long_enough`` fails (ERROR) naming it and its count,
while the other companies are still forecast. Without any upload the table is empty.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.defs.helpers import (
    ERROR,
    TABLE_KINDS,
    check_result,
    config_from_settings,
    serve,
    settings_from_config,
)
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.forecasting.settings import ForecastSettings
from retail_pipeline.platform.registry import ModelRegistry

GROUP = "forecasting"


CompanyForecastConfig = config_from_settings(
    "CompanyForecastConfig", ForecastSettings,
    "Horizon, backtest folds and candidate models of the per-company revenue forecast.",
    exclude=("forest_max_train_rows", "forest_trees", "forest_max_depth",
             "speculative_final_fit", "prophet_max_series", "forest_max_series",
             "intermittent_share", "boost_max_train_rows", "train_days"),
    models=(list[str], Field(default=["seasonal_naive", "prophet", "global_hgb"],
                             description="Candidate models backtested on each company's revenue "
                                         "(any of the sales forecast's zoo).")),
    force_retrain=(bool, Field(default=False, description="Refit the champions even when the "
                                                          "registry holds a model trained on the "
                                                          "same data and settings.")),
)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS | {"prophet"},
          description="Revenue of each company with an uploaded revenue history, forecast 30 days "
                      "past its last date through the forecasting pipeline (backtested champion "
                      "with a calibrated interval; a history too short for a backtest gets "
                      "Prophet, or the weekly naive under 28 days, and says so in `method`): "
                      "company_name, ds, yhat, yhat_lower, yhat_upper, model, method, "
                      "model_version, history_points, history_start, history_end. A company with "
                      "fewer than 10 data points is left out and named by the asset check. "
                      "Warehouse table `company_revenue_forecast`.")
def company_revenue_forecast(context: dg.AssetExecutionContext, config: CompanyForecastConfig,
                             raw_revenue_history: pd.DataFrame, data_dir: DataDirResource,
                             warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.company import forecast_company_revenue

    settings = settings_from_config(config, ForecastSettings, models=tuple(config.models))
    result = forecast_company_revenue(raw_revenue_history, settings,
                                      registry=ModelRegistry(data_dir.layout.models),
                                      force_retrain=config.force_retrain)
    for reason in result.rejected["reason"]:
        context.log.error(f"company_revenue_forecast: {reason}")
    forecast = result.forecast
    companies = forecast["company_name"].nunique(dropna=False) if len(forecast) else 0
    status = ("no revenue history uploaded" if raw_revenue_history.empty else
              f"companies forecast: {companies}, rejected: {len(result.rejected)}")
    return serve(context, warehouse, forecast, "company_revenue_forecast", status=status,
                 horizon_days=settings.horizon,
                 rejected=dg.MetadataValue.md(result.rejected.to_markdown(index=False))
                 if len(result.rejected) else "-")


@dg.asset_check(asset=company_revenue_forecast,
                additional_ins={"raw_revenue_history": dg.AssetIn()},
                description="Every company in the revenue history has at least 10 data points "
                            "(ERROR naming each company below and its count).")
def company_revenue_history_is_long_enough(raw_revenue_history: pd.DataFrame
                                           ) -> dg.AssetCheckResult:
    from retail_pipeline.forecasting.company import MIN_POINTS, too_short

    short = too_short(raw_revenue_history)
    return check_result(short, ERROR, min_points=MIN_POINTS,
                        **({"message": "; ".join(short["reason"])} if len(short) else {}))
