from datetime import UTC, datetime

import pandas as pd
import pytest

from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.forecasting.pipeline import (
    SALES_FORECAST_COLUMNS,
    ForecastSettings,
    champion_feature_importances,
    run_forecast,
)
from retail_pipeline.platform.registry import ModelRegistry

from .conftest import make_sales

SETTINGS = ForecastSettings(horizon=14, n_folds=3)


@pytest.fixture(scope="module")
def panel():
    sales, _ = make_sales(n_shops=2, n_products=2, n_days=800, seed=8)
    return forecast_panel(sales)


def test_full_zoo_forecast_and_registry(panel, tmp_path):
    registry = ModelRegistry(tmp_path)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    result = run_forecast(panel, SETTINGS, registry=registry, created_at=when)
    fc = result.forecast
    assert list(fc.columns) == SALES_FORECAST_COLUMNS
    assert len(fc) == panel["series_id"].nunique() * 14
    assert fc["date"].min() == panel["ds"].max() + pd.Timedelta(days=1)
    assert (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()
    assert (fc["created_at"] == pd.Timestamp(when)).all()
    board = result.leaderboard
    # every model was backtested at every level (4 levels have <= 20 series)
    assert set(board["model"]) == {"seasonal_naive", "seasonal_profile", "prophet",
                                   "random_forest", "global_hgb"}
    for level, model in result.champions.items():
        rows = fc[fc["level"] == level]
        assert (rows["model"] == model).all()
        assert (rows["model_version"] == result.versions[level]).all()
        assert registry.record(result.versions[level]).name == f"{level}__{model}"
    totals = fc[fc["level"] == "shop"][["shop_id", "product_id"]]
    assert totals["shop_id"].notna().all() and totals["product_id"].isna().all()
    imp = champion_feature_importances(result)
    assert list(imp.columns) == ["model", "cohort", "feature", "importance"]

    # same data + settings: the registry's model is reused; force_retrain makes new ones
    again = run_forecast(panel, SETTINGS, registry=registry, created_at=when)
    assert again.versions == result.versions
    pd.testing.assert_frame_equal(again.forecast, fc)
    forced = run_forecast(panel, SETTINGS, registry=registry, force_retrain=True)
    assert all(forced.versions[lv] != result.versions[lv] for lv in result.versions)
    assert len(registry.list()) == 2 * len(result.versions)
