"""The forecasting assets materialise from a daily_sales asset and fill warehouse and charts."""

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from retail_pipeline.defs.forecasting import assets as fa
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.platform.registry import ModelRegistry

from .conftest import make_sales

FORECAST_ASSETS = [fa.forecast_panel, fa.forecast, fa.cohort_random_forest, fa.feature_importances,
                   fa.seasonal_decomposition, fa.forecast_history_chart, fa.forecast_backtest_chart,
                   fa.sales_forecast_chart, fa.feature_importance_chart, fa.decomposition_chart,
                   fa.leaderboard_chart]


def test_forecasting_assets_materialise(tmp_path):
    sales, _ = make_sales(n_shops=2, n_products=2, n_days=800, seed=4)

    @dg.asset(name="daily_sales")
    def daily_sales_input() -> pd.DataFrame:
        return sales

    db = tmp_path / "warehouse.db"
    run_config = {"ops": {
        "forecast": {"config": {"horizon": 14, "n_jobs": 1}},
        "cohort_random_forest": {"config": {"shop_id": "S1", "product_id": "P2", "horizon": 14,
                                            "n_estimators": 30}},
    }}
    result = dg.materialize(
        [daily_sales_input, *FORECAST_ASSETS],
        resources={"data_dir": DataDirResource(root=str(tmp_path / "data")),
                   "warehouse": WarehouseResource(url=f"sqlite:///{db}")},
        run_config=run_config)
    assert result.success
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"sales_forecast", "forecast_leaderboard", "feature_importances",
                "seasonal_decomposition"} <= tables
        forecast = pd.read_sql_table("sales_forecast", conn)
    engine.dispose()
    assert len(forecast) == 9 * 14  # 1 total + 2 shops + 2 products + 4 shop x product
    importances = result.output_for_node("feature_importances")
    assert "shop=S1|product=P2" in set(importances["cohort"])
    cohort_meta = result.asset_materializations_for_node("cohort_random_forest")[0].metadata
    assert {"mse", "mae", "r2"} <= set(cohort_meta)
    chart_meta = result.asset_materializations_for_node("sales_forecast_chart")[0].metadata
    assert chart_meta["path"].value.endswith("sales_forecast.png")
    assert chart_meta["chart"].value.startswith("![sales_forecast](data:image/png;base64,")
    table_meta = result.asset_materializations_for_node("forecast")
    assert all("dagster/row_count" in m.metadata for m in table_meta[:3])
    assert len(ModelRegistry(tmp_path / "data" / "models").list()) >= 5


def test_no_sales_gives_empty_tables_not_a_failed_refresh(tmp_path):
    empty = make_sales(n_shops=1, n_products=1, n_days=10, seed=0)[0].iloc[:0]

    @dg.asset(name="daily_sales")
    def daily_sales_input() -> pd.DataFrame:
        return empty

    db = tmp_path / "w.db"
    result = dg.materialize(
        [daily_sales_input, *FORECAST_ASSETS],
        resources={"data_dir": DataDirResource(root=str(tmp_path / "data")),
                   "warehouse": WarehouseResource(url=f"sqlite:///{db}")})
    assert result.success
    for node in ("forecast_panel", "seasonal_decomposition", "feature_importances"):
        assert result.output_for_node(node).empty
    assert result.output_for_node("forecast", "sales_forecast").empty
    meta = result.asset_materializations_for_node("forecast")[0].metadata
    assert meta["status"].value.startswith("skipped")
    chart = tmp_path / "data" / "charts" / "sales_forecast.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
