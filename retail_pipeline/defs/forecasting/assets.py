"""Forecasting assets: panel, backtested champion forecast, decomposition, models, charts.

The computations live in ``retail_pipeline.forecasting`` (plain pandas / scikit-learn);
these assets only wire them to ``daily_sales``, the model registry under
``RETAIL_DATA_DIR/models``, the warehouse and the chart folder.

- ``forecast_panel``: daily series at four levels, zero-filled, capped per level.
- ``forecast_leaderboard`` / ``sales_forecast`` / ``forecast_backtest`` /
  ``forecast_models``: one run of backtest -> champion per level -> conformal interval ->
  forecast (they are produced together because they come from the same backtest).
- ``cohort_random_forest``: the dashboard's Random Forest for one cohort chosen in the
  launchpad (shop and/or product), with MSE, MAE, R2 and importances.
- ``feature_importances``, ``seasonal_decomposition``: the "why" tables.
- charts: history, backtest, forecast with band, importances, decomposition, leaderboard.

The modules that pull in scikit-learn, statsmodels and seaborn are imported inside the
assets that use them: every run worker loads this file, and an ingestion run should not
spend seconds importing plotting and model libraries it never calls (see BENCHMARKS.md).
"""

import dagster as dg
import pandas as pd

from retail_pipeline.defs.metadata import chart_metadata, table_metadata
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.forecasting.panel import DEFAULT_MAX_SERIES_PER_LEVEL
from retail_pipeline.forecasting.panel import forecast_panel as build_panel
from retail_pipeline.forecasting.registry import ModelRegistry

GROUP = "forecasting"
TABLE_KINDS = {"pandas", "sql"}
MODEL_KINDS = {"scikit-learn", "prophet", "pandas", "sql"}
CHART_KINDS = {"seaborn", "png"}
TOP_SERIES = 4


class PanelConfig(dg.Config):
    """How many series each level keeps (the largest by units sold); 0 keeps all."""

    max_series_per_level: int = DEFAULT_MAX_SERIES_PER_LEVEL


class ForecastConfig(dg.Config):
    """Forecast horizon, backtest folds, which levels get Prophet / the forest, retraining."""

    horizon: int = 30
    n_folds: int = 3
    prophet_max_series: int = 20
    forest_max_series: int = 100
    force_retrain: bool = False
    n_jobs: int = 2


class CohortConfig(dg.Config):
    """The cohort to train the Random Forest on: leave both empty for all sales."""

    shop_id: str = ""
    product_id: str = ""
    horizon: int = 30
    n_estimators: int = 200
    force_retrain: bool = False


@dg.asset(group_name=GROUP, kinds={"pandas"},
          description="Daily units per series at four levels (total, shop, product, shop x "
                      "product) with missing days filled as zero; each level keeps its "
                      "`max_series_per_level` largest series (0 = all).")
def forecast_panel(config: PanelConfig, daily_sales: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    cap = config.max_series_per_level or None
    panel = build_panel(daily_sales, max_series_per_level=cap)
    counts = panel.groupby("level")["series_id"].nunique().to_dict() if len(panel) else {}
    return dg.Output(panel, metadata=table_metadata(
        panel, max_series_per_level=cap or 0,
        **{f"series_{level}": int(n) for level, n in counts.items()}))


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "forecast_leaderboard": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Rolling-origin backtest metrics (MAE, MSE, RMSE, R2, sMAPE, MASE, own "
                        "and conformal 80% coverage) per level and per series for every model; "
                        "`champion` marks each level's winner (lowest MASE). Warehouse table "
                        "`forecast_leaderboard`."),
        "sales_forecast": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="The champion's daily forecast per series for the next `horizon` days "
                        "with an 80% interval calibrated on the backtest (conformal), model "
                        "name and registry version. Warehouse table `sales_forecast`."),
        "forecast_backtest": dg.AssetOut(
            kinds={"pandas"},
            description="Every backtest forecast with its actual (level, series, model, fold, "
                        "day); the data behind the leaderboard and the backtest chart."),
        "forecast_models": dg.AssetOut(
            kinds=MODEL_KINDS,
            description="The fitted champion per level with its registry version "
                        "(RETAIL_DATA_DIR/models); reused when data and settings are unchanged "
                        "unless `force_retrain`."),
    },
)
def forecast(context: dg.AssetExecutionContext, config: ForecastConfig,
             forecast_panel: pd.DataFrame, data_dir: DataDirResource,
             warehouse: WarehouseResource):
    from retail_pipeline.forecasting.pipeline import (
        ForecastResult,
        ForecastSettings,
        has_enough_history,
        min_history_days,
        run_forecast,
    )

    settings = ForecastSettings(horizon=config.horizon, n_folds=config.n_folds,
                                prophet_max_series=config.prophet_max_series,
                                forest_max_series=config.forest_max_series,
                                n_jobs=config.n_jobs)
    registry = ModelRegistry(data_dir.layout.models)
    if has_enough_history(forecast_panel, settings):
        result = run_forecast(forecast_panel, settings, registry=registry,
                              force_retrain=config.force_retrain)
        status = f"champions: {result.champions}"
    else:  # a new store: empty tables rather than a failed refresh or invented numbers
        result = ForecastResult.empty()
        status = f"skipped: a backtest needs {min_history_days(settings)} days of sales history"
    context.log.info(status)
    board, fc = result.leaderboard, result.forecast
    warehouse.write_table("forecast_leaderboard", board)
    warehouse.write_table("sales_forecast", fc)
    level_rows = board[board["scope"] == "level"]
    champions = level_rows[level_rows["champion"]]
    yield dg.Output(board, output_name="forecast_leaderboard", metadata=table_metadata(
        board, warehouse_table="forecast_leaderboard", status=status,
        level_leaderboard=dg.MetadataValue.md(level_rows.drop(columns=["series_id"])
                                              .round(3).to_markdown(index=False)),
        **{f"champion_{r.level}": r.model for r in champions.itertuples()},
        **{f"coverage80_conformal_{r.level}": float(r.coverage80_conformal)
           for r in champions.itertuples() if pd.notna(r.coverage80_conformal)}))
    yield dg.Output(fc, output_name="sales_forecast", metadata=table_metadata(
        fc, warehouse_table="sales_forecast", horizon_days=config.horizon, status=status,
        first_date=str(fc["date"].min().date()) if len(fc) else "-",
        last_date=str(fc["date"].max().date()) if len(fc) else "-",
        **{f"version_{level}": version for level, version in result.versions.items()}))
    yield dg.Output(result.errors, output_name="forecast_backtest",
                    metadata=table_metadata(result.errors, folds=config.n_folds))
    models = {level: {"model_name": result.champions[level], "version": result.versions[level],
                      "model": model} for level, model in result.models.items()}
    summary = pd.DataFrame([{"level": k, "model": v["model_name"], "version": v["version"]}
                            for k, v in models.items()], columns=["level", "model", "version"])
    yield dg.Output(models, output_name="forecast_models", metadata={
        "models": dg.MetadataValue.md(summary.to_markdown(index=False)),
        "registry": dg.MetadataValue.path(str(registry.root))})


@dg.asset(group_name=GROUP, kinds={"scikit-learn", "pandas"},
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
        empty = pd.DataFrame(columns=["model", "cohort", "feature", "importance"])
        return dg.Output(empty, metadata=table_metadata(empty, status=f"skipped: {exc}"))
    return dg.Output(result.importances, metadata=table_metadata(
        result.importances, cohort=result.cohort, model_version=result.version,
        reused_from_registry=result.reused,
        **{k: float(v) for k, v in result.metrics.items()}))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Feature importances (model, cohort, feature, importance) of the tree "
                      "models: the champions per level (permutation importance for gradient "
                      "boosting, impurity for the forest) and the cohort Random Forest. "
                      "Warehouse table `feature_importances`.")
def feature_importances(forecast_models: dict, cohort_random_forest: pd.DataFrame,
                        warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    parts = []
    for level, entry in forecast_models.items():
        model = entry["model"]
        if hasattr(model, "feature_importances"):
            imp = model.feature_importances()
            imp.insert(0, "cohort", f"level={level}")
            imp.insert(0, "model", entry["model_name"])
            parts.append(imp)
    columns = ["model", "cohort", "feature", "importance"]
    parts = [p for p in [*parts, cohort_random_forest] if len(p)]
    frame = (pd.concat(parts, ignore_index=True)[columns] if parts
             else pd.DataFrame({"model": pd.Series(dtype=str), "cohort": pd.Series(dtype=str),
                                "feature": pd.Series(dtype=str),
                                "importance": pd.Series(dtype=float)}))
    warehouse.write_table("feature_importances", frame)
    return dg.Output(frame, metadata=table_metadata(frame, warehouse_table="feature_importances"))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="STL decomposition (weekly period) of the total, shop and product series "
                      "into trend, seasonal and residual over the last two years. Warehouse "
                      "table `seasonal_decomposition`.")
def seasonal_decomposition(forecast_panel: pd.DataFrame,
                           warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.decomposition import seasonal_decomposition as decompose

    frame = decompose(forecast_panel)
    warehouse.write_table("seasonal_decomposition", frame)
    return dg.Output(frame, metadata=table_metadata(
        frame, warehouse_table="seasonal_decomposition",
        series=int(frame["series_id"].nunique()) if len(frame) else 0))


def _chart(path) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=chart_metadata(path))


@dg.asset(group_name=GROUP, kinds=CHART_KINDS,
          description="Sales history (daily and 7-day mean) of the total and the largest "
                      "shop x product series (data/charts/forecast_history.png).")
def forecast_history_chart(forecast_panel: pd.DataFrame,
                           data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.forecasting import charts

    series = charts.top_series(forecast_panel, TOP_SERIES)
    return _chart(charts.history_chart(forecast_panel, series,
                                       data_dir.layout.charts / "forecast_history.png"))


@dg.asset(group_name=GROUP, kinds=CHART_KINDS,
          description="Backtest actuals against every model's forecasts for the total and the "
                      "largest series (data/charts/forecast_backtest.png).")
def forecast_backtest_chart(forecast_backtest: pd.DataFrame, forecast_panel: pd.DataFrame,
                            data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.forecasting import charts

    series = [s for s in charts.top_series(forecast_panel, TOP_SERIES)
              if s in set(forecast_backtest["series_id"])]
    return _chart(charts.backtest_chart(forecast_backtest, series,
                                        data_dir.layout.charts / "forecast_backtest.png"))


@dg.asset(group_name=GROUP, kinds=CHART_KINDS,
          description="Recent history, the champion forecast and its 80% interval band for the "
                      "total and the largest series (data/charts/sales_forecast.png).")
def sales_forecast_chart(forecast_panel: pd.DataFrame, sales_forecast: pd.DataFrame,
                         data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.forecasting import charts

    series = charts.top_series(forecast_panel, TOP_SERIES)
    return _chart(charts.forecast_chart(forecast_panel, sales_forecast, series,
                                        data_dir.layout.charts / "sales_forecast.png"))


@dg.asset(group_name=GROUP, kinds=CHART_KINDS,
          description="Largest feature importances per tree model and cohort "
                      "(data/charts/feature_importances.png).")
def feature_importance_chart(feature_importances: pd.DataFrame,
                             data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.forecasting import charts

    return _chart(charts.importance_chart(feature_importances,
                                          data_dir.layout.charts / "feature_importances.png"))


@dg.asset(group_name=GROUP, kinds=CHART_KINDS,
          description="Observed, trend, weekly seasonal and residual panels of the total series "
                      "(data/charts/seasonal_decomposition.png).")
def decomposition_chart(seasonal_decomposition: pd.DataFrame,
                        data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.forecasting import charts

    return _chart(charts.decomposition_chart(seasonal_decomposition, "total",
                                             data_dir.layout.charts / "seasonal_decomposition.png"))


@dg.asset(group_name=GROUP, kinds=CHART_KINDS,
          description="Backtest MASE and sMAPE per model and level with the champions named "
                      "(data/charts/forecast_leaderboard.png).")
def leaderboard_chart(forecast_leaderboard: pd.DataFrame,
                      data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.forecasting import charts

    return _chart(charts.leaderboard_chart(forecast_leaderboard,
                                           data_dir.layout.charts / "forecast_leaderboard.png"))
