"""The champion's 80% interval covers 75-85% of actuals it has never seen."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.intervals import ConformalCalibrator, horizon_bucket
from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.forecasting.pipeline import ForecastSettings, run_forecast

from .conftest import future_truth, make_sales

HORIZON = 28


def test_horizon_buckets():
    assert horizon_bucket([1, 7, 8, 14, 15, 30, 31, 60, 61, 90, 91]).tolist() == \
        [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5]


def test_conformal_band_on_known_noise():
    rng = np.random.default_rng(0)
    lam = rng.uniform(3, 80, 4000)
    calib = pd.DataFrame({"level": "x", "h": rng.integers(1, 29, 4000), "yhat": lam,
                          "y": rng.poisson(lam)})
    cal = ConformalCalibrator(0.8).fit(calib)
    lam_new = rng.uniform(3, 80, 20000)
    new = pd.DataFrame({"level": "x", "h": rng.integers(1, 29, 20000), "yhat": lam_new})
    banded = cal.apply(new)
    y = rng.poisson(lam_new)
    cov = np.mean((y >= banded["yhat_lower"]) & (y <= banded["yhat_upper"]))
    assert 0.75 <= cov <= 0.85


@pytest.fixture(scope="module")
def run():
    sales, truth = make_sales(n_shops=4, n_products=5, n_days=3 * 365, seed=21)
    panel = forecast_panel(sales, levels=["shop_product"], max_series_per_level=None)
    settings = ForecastSettings(horizon=HORIZON, n_folds=4,
                                models=("seasonal_naive", "global_hgb"))
    return panel, truth, run_forecast(panel, settings)


def test_champion_interval_covers_fresh_actuals(run):
    panel, truth, result = run
    forecast = result.forecast
    days = pd.date_range(panel["ds"].max() + pd.Timedelta(days=1), periods=HORIZON)
    lam = future_truth(truth, days).rename(columns={"ds": "date"})
    merged = forecast.merge(lam, on=["series_id", "date"])
    assert len(merged) == 20 * HORIZON
    rng = np.random.default_rng(99)
    # 30 independent futures drawn from the known process: average coverage
    coverages = []
    for _ in range(30):
        y = rng.poisson(merged["lam"].to_numpy())
        coverages.append(np.mean((y >= merged["yhat_lower"]) & (y <= merged["yhat_upper"])))
    assert 0.75 <= float(np.mean(coverages)) <= 0.85, np.mean(coverages)
    # and the leaderboard's cross-fold conformal coverage says the same
    level = result.leaderboard[(result.leaderboard["scope"] == "level")
                               & result.leaderboard["champion"]].iloc[0]
    assert 0.75 <= level["coverage80_conformal"] <= 0.85


def test_the_point_forecast_lies_inside_its_interval_even_after_one_sided_errors():
    """A model that over-forecast every backtest day has only negative residuals: its upper
    bound would fall below the forecast; the interval is widened to hold the forecast."""
    rng = np.random.default_rng(4)
    y = rng.poisson(10, 400).astype(float)
    errors = pd.DataFrame({"level": "total", "h": np.tile(np.arange(1, 11), 40), "y": y, "yhat": y + 5.0})
    calibrator = ConformalCalibrator(interval=0.8).fit(errors)
    assert calibrator.quantiles[("total", -1)][1] < 0  # every residual was negative
    out = calibrator.apply(pd.DataFrame({"level": "total", "h": [1, 5, 20], "yhat": [12.0, 3.0, 0.0]}))
    assert (out["yhat_lower"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat_upper"]).all()
    assert (out["yhat_upper"] == out["yhat"]).all()
