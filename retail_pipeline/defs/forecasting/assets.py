"""Forecasting assets: panel, backtested champion forecast, accuracy over time, models, charts.

The computations live in ``retail_pipeline.forecasting`` (plain pandas / scikit-learn);
these assets only wire them to ``daily_sales``, the model registry, the warehouse and the
chart folder. Modules that pull in scikit-learn, statsmodels and seaborn are imported
inside the assets that use them: every run worker loads this file, and an ingestion run
should not spend seconds importing libraries it never calls (see BENCHMARKS.md).
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
    table_metadata,
)
from retail_pipeline.defs.io_manager import reads
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.forecasting.events import COUNTRY_COLUMNS
from retail_pipeline.forecasting.panel import DEFAULT_DEMAND, DEFAULT_MAX_SERIES_PER_LEVEL
from retail_pipeline.forecasting.panel import INPUT_COLUMNS as PANEL_INPUT_COLUMNS
from retail_pipeline.forecasting.panel import forecast_panel as build_panel
from retail_pipeline.forecasting.settings import ForecastSettings
from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.platform.warehouse import History

GROUP = "forecasting"
MODEL_KINDS = {"scikit-learn", "prophet", "pandas"}
FORECAST_HISTORY_TABLE = "sales_forecast_history"


class PanelConfig(dg.Config):
    """Which series the forecast covers."""

    max_series_per_level: int = Field(
        default=DEFAULT_MAX_SERIES_PER_LEVEL,
        description="Each level keeps its largest series by units sold; 0 keeps all.")
    demand: str = Field(
        default=DEFAULT_DEMAND,
        description="Which units the forecast learns from: `net` (units sold minus units "
                    "returned, daily_sales `quantity`) or `gross` (units sold before returns, "
                    "`gross_quantity`: what left the shelf, what a buyer stocks for). A series' day "
                    "with negative units (returns above sales) counts as 0 (metadata "
                    "`clipped_days_<level>`).")


ForecastConfig = config_from_settings(
    "ForecastConfig", ForecastSettings,
    "Forecast horizon, backtest folds, which levels get Prophet and the forest, retraining.",
    exclude=("forest_max_train_rows", "forest_trees", "forest_max_depth",
             "speculative_final_fit"),
    force_retrain=(bool, Field(default=False, description="Refit the champions even when the "
                                                          "registry holds a model trained on the "
                                                          "same data and settings.")),
    history_vintages=(int, Field(default=90, description="How many past forecasts (vintages) "
                                                         "`sales_forecast_history` keeps.")),
)


class CohortConfig(dg.Config):
    """The cohort to train the Random Forest on: leave both empty for all sales."""

    shop_id: str = Field(default="", description="Only this shop's sales (empty: every shop).")
    product_id: str = Field(default="", description="Only this product (empty: every product).")
    horizon: int = Field(default=30, description="Days held out to score the forest.")
    n_estimators: int = Field(default=200, description="Trees in the forest.")
    force_retrain: bool = Field(default=False, description="Refit even when the registry holds "
                                                           "a forest for the same data.")


@dg.asset(group_name=GROUP, kinds={"pandas"},
          ins={"daily_sales": reads(PANEL_INPUT_COLUMNS)},
          description="Daily units per series at four levels (total, shop, product, shop x "
                      "product) with missing days filled as zero; net units by default, gross "
                      "(before returns) with `demand: gross`; days with negative units count "
                      "as 0; each level keeps its `max_series_per_level` largest series "
                      "(0 = all).")
def forecast_panel(config: PanelConfig, daily_sales: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    cap = config.max_series_per_level or None
    panel = build_panel(daily_sales, max_series_per_level=cap, demand=config.demand)
    counts = panel.groupby("level")["series_id"].nunique().to_dict() if len(panel) else {}
    demand = panel.attrs["demand"]
    return dg.Output(panel, metadata=table_metadata(
        panel, max_series_per_level=cap or 0, demand=demand["demand"],
        demand_column=demand["column"],
        **{f"clipped_days_{level}": n for level, n in demand["clipped_days"].items()},
        **{f"clipped_units_{level}": u for level, u in demand["clipped_units"].items()},
        **{f"series_{level}": int(n) for level, n in counts.items()}))


@dg.multi_asset(
    group_name=GROUP,
    ins={"daily_sales": reads(COUNTRY_COLUMNS)},
    outs={
        "forecast_leaderboard": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Rolling-origin backtest metrics (MAE, MSE, RMSE, R2, sMAPE, MASE, bias "
                        "in units and as % of demand, scaled pinball loss, own and conformal "
                        "80% coverage) per level and per series for every model; `intermittent` "
                        "marks mostly-zero series (no sMAPE for them); `champion` marks each "
                        "level's winner (lowest MASE unless its bias exceeds 10% of demand and "
                        "an unbiased model is within 5%) and `chosen_by` says why. Warehouse "
                        "table `forecast_leaderboard`."),
        "sales_forecast": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="The champion's daily forecast per series for the next `horizon` days "
                        "with an 80% interval calibrated on the backtest (conformal), model "
                        "name and registry version. Warehouse table `sales_forecast`; every "
                        "new forecast is also kept in `sales_forecast_history`."),
        "forecast_backtest": dg.AssetOut(
            kinds={"pandas"},
            description="Every backtest forecast with its actual (level, series, model, fold, "
                        "day); the data behind the leaderboard and the backtest chart."),
        "forecast_models": dg.AssetOut(
            kinds=MODEL_KINDS,
            description="The champion per level (level, model, version, same_as): the fitted "
                        "models live in the model registry (RETAIL_DATA_DIR/models) and are "
                        "reused when data and settings are unchanged unless `force_retrain`; a "
                        "level identical to another (one shop = the total) is not fitted again "
                        "and `same_as` names the level whose model serves it."),
        "forecast_series_aliases": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Series identical to a series of another level (one shop's sales are "
                        "the total; a product sold in one shop): fitted and stored once, this "
                        "table points each at the series whose forecast it shares. Warehouse "
                        "table `forecast_series_aliases`."),
        "forecast_calendar": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="The public holidays (country from the data's `country` column or the "
                        "config) and user events the models were given, from the first day of "
                        "history to the end of the horizon (date, name, kind). Warehouse table "
                        "`forecast_calendar`."),
    },
)
def forecast(context: dg.AssetExecutionContext, config: ForecastConfig,
             forecast_panel: pd.DataFrame, daily_sales: pd.DataFrame, data_dir: DataDirResource,
             warehouse: WarehouseResource):
    from retail_pipeline.forecasting.accuracy import vintage_id
    from retail_pipeline.forecasting.events import country_of
    from retail_pipeline.forecasting.pipeline import (
        ForecastResult,
        has_enough_history,
        min_history_days,
        run_forecast,
        settings_calendar,
    )

    settings = settings_from_config(config, ForecastSettings)
    registry = ModelRegistry(data_dir.layout.models)
    calendar = settings_calendar(settings, country_of(daily_sales, None))
    if has_enough_history(forecast_panel, settings):
        result = run_forecast(forecast_panel, settings, registry=registry,
                              force_retrain=config.force_retrain, calendar=calendar)
        status = f"champions: {result.champions}"
    else:  # a new store: empty tables rather than a failed refresh or invented numbers
        result = ForecastResult.empty()
        status = f"skipped: a backtest needs {min_history_days(settings)} days of sales history"
    context.log.info(status)
    board, fc = result.leaderboard, result.forecast
    level_rows = board[board["scope"] == "level"]
    champions = level_rows[level_rows["champion"]]
    yield serve(context, warehouse, board, "forecast_leaderboard",
                output_name="forecast_leaderboard", status=status,
                level_leaderboard=dg.MetadataValue.md(
                    level_rows.drop(columns=["series_id"]).round(3).to_markdown(index=False)),
                **{f"champion_{r.level}": r.model for r in champions.itertuples()},
                **{f"coverage80_conformal_{r.level}": float(r.coverage80_conformal)
                   for r in champions.itertuples() if pd.notna(r.coverage80_conformal)})
    vintage = vintage_id(fc)
    new_vintage = bool(vintage) and not warehouse.warehouse.contains(
        FORECAST_HISTORY_TABLE, "vintage", vintage)
    history = History(keep_runs=config.history_vintages,
                      index_columns=("vintage", "level", "series_id", "date"))
    yield serve(context, warehouse, fc.assign(vintage=vintage) if new_vintage else fc,
                "sales_forecast", output_name="sales_forecast",
                history=history if new_vintage else None, history_table=FORECAST_HISTORY_TABLE,
                horizon_days=config.horizon, status=status, vintage=vintage or "-",
                new_vintage=new_vintage,
                first_date=str(fc["date"].min().date()) if len(fc) else "-",
                last_date=str(fc["date"].max().date()) if len(fc) else "-",
                **{f"version_{level}": version for level, version in result.versions.items()})
    yield dg.Output(result.errors, output_name="forecast_backtest",
                    metadata=table_metadata(result.errors, folds=config.n_folds))
    models = result.level_models()
    yield dg.Output(models, output_name="forecast_models", metadata=table_metadata(
        models, registry=dg.MetadataValue.path(str(registry.root))))
    yield serve(context, warehouse, result.aliases, "forecast_series_aliases",
                output_name="forecast_series_aliases")
    last = forecast_panel["ds"].max() if len(forecast_panel) else pd.Timestamp.now().normalize()
    first = forecast_panel["ds"].min() if len(forecast_panel) else last
    days = calendar.holidays(first, last + pd.Timedelta(days=config.horizon))
    yield serve(context, warehouse, days, "forecast_calendar", output_name="forecast_calendar",
                country=calendar.country or "-", events=len(calendar.events))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Accuracy of past forecasts: every vintage in `sales_forecast_history` "
                      "whose dates have passed, scored against actual sales (MAE, bias, bias "
                      "as % of demand, 80% interval coverage) per level and age of the forecast "
                      "(1-7, 8-14, 15-30, 31+ days ahead). Warehouse table `forecast_accuracy`.")
def forecast_accuracy(context: dg.AssetExecutionContext, sales_forecast: pd.DataFrame,
                      forecast_panel: pd.DataFrame,
                      warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.accuracy import forecast_accuracy as score

    wh = warehouse.warehouse
    history = (wh.read_table(FORECAST_HISTORY_TABLE) if wh.has_table(FORECAST_HISTORY_TABLE)
               else pd.DataFrame())
    frame = score(history, forecast_panel)
    vintages = int(history["run_id"].nunique()) if len(history) else 0
    return serve(context, warehouse, frame, "forecast_accuracy", vintages_stored=vintages)


@dg.asset(group_name=GROUP, kinds={"scikit-learn", "pandas"},
          ins={"daily_sales": reads(PANEL_INPUT_COLUMNS)},
          description="Random Forest for one cohort chosen in the launchpad config (shop_id "
                      "and/or product_id; both empty = all sales): MSE, MAE, R2 on the last "
                      "`horizon` days, and its feature importances (the output). Saved in the "
                      "model registry; reused unless the data changed or `force_retrain`.")
def cohort_random_forest(config: CohortConfig, daily_sales: pd.DataFrame,
                         data_dir: DataDirResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.cohort import CohortUnavailable, cohort_forest

    try:
        result = cohort_forest(daily_sales, ModelRegistry(data_dir.layout.models),
                               shop_id=config.shop_id or None,
                               product_id=config.product_id or None, horizon=config.horizon,
                               n_estimators=config.n_estimators,
                               force_retrain=config.force_retrain)
    except CohortUnavailable as exc:  # no sales yet for this cohort: nothing to train
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("model", "str"), ("cohort", "str"), ("feature", "str"), ("importance", "float64"))})
        return dg.Output(empty, metadata=table_metadata(empty, status=f"skipped: {exc}"))
    return dg.Output(result.importances, metadata=table_metadata(
        result.importances, cohort=result.cohort, model_version=result.version,
        reused_from_registry=result.reused,
        **{k: float(v) for k, v in result.metrics.items()}))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Feature importances (model, cohort, feature, importance) of the tree "
                      "models: the champions per level (permutation importance for gradient "
                      "boosting, impurity for the forest), loaded from the model registry, and "
                      "the cohort Random Forest. Warehouse table `feature_importances`.")
def feature_importances(context: dg.AssetExecutionContext, forecast_models: pd.DataFrame,
                        cohort_random_forest: pd.DataFrame, data_dir: DataDirResource,
                        warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.tabular import importances_of

    registry = ModelRegistry(data_dir.layout.models)
    champions = {r.level: (r.model, registry.load(r.version))
                 for r in forecast_models.itertuples()
                 if "same_as" not in forecast_models or pd.isna(r.same_as)}
    return serve(context, warehouse, importances_of(champions, cohort_random_forest),
                 "feature_importances")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="STL decomposition (weekly period) of the total, shop and product series "
                      "into trend, seasonal and residual over the last two years. Warehouse "
                      "table `seasonal_decomposition`.")
def seasonal_decomposition(context: dg.AssetExecutionContext, forecast_panel: pd.DataFrame,
                           warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.decomposition import seasonal_decomposition as decompose

    frame = decompose(forecast_panel)
    return serve(context, warehouse, frame, "seasonal_decomposition",
                 series=int(frame["series_id"].nunique()) if len(frame) else 0)


CHARTS = "retail_pipeline.forecasting.charts"

forecast_history_chart = chart_asset(
    "forecast_history_chart", group=GROUP, ins=["forecast_panel"],
    draw=f"{CHARTS}:history_overview", file_name="forecast_history.png",
    description="Daily sales and their 7-day mean over the last year for the total and the "
                "three largest shop x product series")
forecast_backtest_chart = chart_asset(
    "forecast_backtest_chart", group=GROUP, ins=["forecast_backtest", "forecast_panel"],
    draw=f"{CHARTS}:backtest_overview", file_name="forecast_backtest.png",
    description="Backtest actuals against every model's forecast from each fold's origin, for "
                "the total and the largest series")
sales_forecast_chart = chart_asset(
    "sales_forecast_chart", group=GROUP,
    ins=["forecast_panel", "sales_forecast", "forecast_calendar"],
    draw=f"{CHARTS}:forecast_overview", file_name="sales_forecast.png",
    description="Recent history, the champion forecast and its 80% interval band for the "
                "total and the largest series, with the holidays and events in the horizon "
                "marked")
feature_importance_chart = chart_asset(
    "feature_importance_chart", group=GROUP, ins=["feature_importances"],
    draw=f"{CHARTS}:importance_chart", file_name="feature_importances.png",
    description="The largest feature importances, one panel per model and cohort stacked "
                "vertically, in plain words with the internal feature name in small print")
decomposition_chart = chart_asset(
    "decomposition_chart", group=GROUP, ins=["seasonal_decomposition"],
    draw=f"{CHARTS}:total_decomposition_chart", file_name="seasonal_decomposition.png",
    description="Observed, trend, weekly seasonal and residual panels of the total series")
leaderboard_chart = chart_asset(
    "leaderboard_chart", group=GROUP, ins=["forecast_leaderboard"],
    draw=f"{CHARTS}:leaderboard_chart", file_name="forecast_leaderboard.png",
    description="Backtest MASE and bias (% of demand) per model and level, with each "
                "champion named and the rule that chose it")
forecast_accuracy_chart = chart_asset(
    "forecast_accuracy_chart", group=GROUP, ins=["forecast_accuracy"],
    draw=f"{CHARTS}:accuracy_chart", file_name="forecast_accuracy.png",
    description="MAE and 80% interval coverage of past forecasts by how many days ahead they "
                "were made, per level")
