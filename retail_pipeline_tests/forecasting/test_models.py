"""Each model recovers a known weekly + yearly pattern from Poisson-noisy sales."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.base import FORECAST_COLUMNS, Forecaster
from retail_pipeline.forecasting.boosting import GlobalBoostingForecaster
from retail_pipeline.forecasting.forest import RandomForestForecaster
from retail_pipeline.forecasting.naive import SeasonalNaive
from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.forecasting.prophet_model import ProphetForecaster

from .conftest import WEEKLY, future_truth, make_sales

HORIZON = 28


@pytest.fixture(scope="module")
def setup():
    sales, truth = make_sales(n_shops=2, n_products=3, n_days=3 * 365, seed=1)
    panel = forecast_panel(sales, levels=["shop_product"], max_series_per_level=None)
    last = panel["ds"].max()
    cut = last - pd.Timedelta(days=HORIZON)
    history = panel[panel["ds"] <= cut][["series_id", "ds", "y"]]
    days = pd.date_range(cut + pd.Timedelta(days=1), periods=HORIZON)
    lam = future_truth(truth, days)
    naive = SeasonalNaive().fit(history).predict(HORIZON).merge(lam, on=["series_id", "ds"])
    return history, lam, float(np.mean(np.abs(naive["yhat"] - naive["lam"])))


def _weekday_profile(frame: pd.DataFrame, column: str) -> np.ndarray:
    ratio = frame[column] / frame.groupby("series_id")[column].transform("mean")
    return ratio.groupby(frame["ds"].dt.day_of_week).mean().to_numpy()


@pytest.mark.parametrize("make", [
    lambda: GlobalBoostingForecaster(horizon=HORIZON),
    lambda: RandomForestForecaster(horizon=HORIZON, n_estimators=60),
    lambda: ProphetForecaster(),
], ids=["global_hgb", "random_forest", "prophet"])
def test_model_recovers_the_known_pattern(setup, make):
    history, lam, naive_error = setup
    model = make()
    assert isinstance(model, Forecaster)
    pred = model.fit(history).predict(HORIZON)
    assert list(pred.columns) == FORECAST_COLUMNS
    assert len(pred) == history["series_id"].nunique() * HORIZON
    assert (pred["yhat_lower"] <= pred["yhat"]).all() and (pred["yhat"] <= pred["yhat_upper"]).all()
    merged = pred.merge(lam, on=["series_id", "ds"])
    error = np.mean(np.abs(merged["yhat"] - merged["lam"]))
    # The tolerance comes from the truth: the weekly swing of the signal is
    # (max - min) of WEEKLY times the mean level; a model that learned the pattern is
    # far closer than that, and closer than copying last year's noisy values.
    swing = (WEEKLY.max() - WEEKLY.min()) * merged["lam"].mean() / WEEKLY.mean()
    assert error < 0.15 * swing, (error, swing)
    assert error < naive_error, (error, naive_error)
    learned = _weekday_profile(merged, "yhat")
    true = _weekday_profile(merged, "lam")
    assert np.corrcoef(learned, true)[0, 1] > 0.95
    assert np.max(np.abs(learned - true)) < 0.1


def test_seasonal_naive_copies_same_weekday_last_year(setup):
    history, lam, naive_error = setup
    pred = SeasonalNaive().fit(history).predict(HORIZON)
    one = history[history["series_id"] == history["series_id"].iloc[0]].set_index("ds")["y"]
    first = pred[pred["series_id"] == history["series_id"].iloc[0]]
    back = one.reindex(first["ds"] - pd.Timedelta(days=364)).to_numpy()
    assert np.array_equal(first["yhat"].to_numpy(), back)
    assert (first["ds"] - pd.Timedelta(days=364)).dt.day_of_week.equals(first["ds"].dt.day_of_week)
    # its error against the truth is the Poisson noise of one year-old draw: E|Y - lam|
    # is about sqrt(2 lam / pi) for Poisson; allow 40% slack for sampling.
    expected = np.mean(np.sqrt(2 * lam["lam"] / np.pi))
    assert 0.6 * expected < naive_error < 1.4 * expected

    weekly = SeasonalNaive("week").fit(history).predict(10)
    last_week = one.iloc[-7:].to_numpy()
    got = weekly[weekly["series_id"] == history["series_id"].iloc[0]]["yhat"].to_numpy()
    assert np.array_equal(got, np.concatenate([last_week, last_week[:3]]))


def test_tree_model_refuses_longer_horizon_than_fitted(setup):
    history, _, _ = setup
    model = GlobalBoostingForecaster(horizon=7, max_iter=20).fit(history)
    assert len(model.predict(7)) == history["series_id"].nunique() * 7
    with pytest.raises(ValueError, match="horizons up to 7"):
        model.predict(8)
    imp = model.feature_importances()
    assert imp["importance"].sum() == pytest.approx(1.0)
    assert set(imp["feature"]) == set(model.feature_names)


def test_tree_models_fit_on_a_panel_younger_than_two_years():
    sales, _ = make_sales(n_shops=1, n_products=2, n_days=200, seed=2)
    history = forecast_panel(sales, levels=["shop_product"])[["series_id", "ds", "y"]]
    for model in (GlobalBoostingForecaster(horizon=14, max_iter=20),
                  RandomForestForecaster(horizon=14, n_estimators=10)):
        pred = model.fit(history).predict(14)
        assert len(pred) == 2 * 14 and pred["yhat"].notna().all()
        # yearly lags cannot exist on 200 days, so they are not features
        assert "last_year" not in model.feature_names
        assert "mean_28" in model.feature_names
