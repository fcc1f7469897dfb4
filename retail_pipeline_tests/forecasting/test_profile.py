"""The seasonal profile model and the backtest bias-correction rules."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.pipeline import ForecastSettings, backtest_bias_factor
from retail_pipeline.forecasting.profile import SeasonalProfileForecaster

WEEKDAY = np.array([0.7, 0.8, 0.9, 1.0, 1.1, 1.5, 1.0])
MONTH = np.array([0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.1, 1.0, 1.0, 1.1, 1.15])
GROWTH = 1.10  # per 364 days


def _planted(days: pd.DatetimeIndex, sizes: np.ndarray) -> np.ndarray:
    """Noise-free units: size x weekday x month x growth, the product the model assumes."""
    t = np.arange(len(days)) / 364
    shape = WEEKDAY[days.day_of_week] * MONTH[days.month - 1] * GROWTH ** t
    return sizes[:, None] * shape[None, :]


def test_profile_recovers_a_planted_multiplicative_demand():
    days = pd.date_range("2020-01-06", periods=4 * 364, freq="D")
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=60, freq="D")
    sizes = np.array([5.0, 20.0, 80.0])
    rng = np.random.default_rng(3)
    units = rng.poisson(_planted(days, sizes)).astype(float)
    history = pd.DataFrame({"series_id": np.repeat(["a", "b", "c"], len(days)),
                            "ds": np.tile(days, 3), "y": units.reshape(-1)})
    model = SeasonalProfileForecaster(horizon=60).fit(history)
    fc = model.predict(60)
    assert list(fc.columns) == ["series_id", "ds", "yhat", "yhat_lower", "yhat_upper"]
    assert fc["ds"].min() == future[0] and len(fc) == 3 * 60
    truth = _planted(pd.date_range(days[0], future[-1]), sizes)[:, -60:].reshape(-1)
    # the noise-free mean, day by day, within a few percent
    assert np.abs(fc["yhat"].to_numpy() / truth - 1).mean() < 0.04
    assert fc["yhat"].sum() == pytest.approx(truth.sum(), rel=0.02)
    assert model.growth == pytest.approx(GROWTH, rel=0.02)
    assert (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()


def test_profile_claims_no_yearly_shape_or_growth_it_cannot_see():
    days = pd.date_range("2023-03-06", periods=200, freq="D")
    sizes = np.array([10.0, 30.0])
    units = sizes[:, None] * WEEKDAY[days.day_of_week][None, :]  # flat apart from weekdays
    history = pd.DataFrame({"series_id": np.repeat(["a", "b"], len(days)),
                            "ds": np.tile(days, 2), "y": units.reshape(-1)})
    model = SeasonalProfileForecaster(horizon=14).fit(history)
    fc = model.predict(14)
    assert model.growth == 1.0
    expected = sizes[:, None] * WEEKDAY[fc["ds"].iloc[:14].dt.day_of_week.to_numpy()][None, :]
    np.testing.assert_allclose(fc["yhat"].to_numpy(), expected.reshape(-1), rtol=1e-9)


def test_short_window_follows_a_recent_ramp():
    days = pd.date_range("2023-01-02", periods=140, freq="D")
    ramp = 1.01 ** np.arange(len(days))  # +1% a day
    units = 20.0 * ramp * WEEKDAY[days.day_of_week]
    history = pd.DataFrame({"series_id": "a", "ds": days, "y": units})
    model = SeasonalProfileForecaster(horizon=7, window=28).fit(history)
    # the last 28 days over the 28 before: 1.01 ** 28 by construction
    assert model.growth == pytest.approx(1.01 ** 28, rel=1e-6)
    fc = model.predict(7)
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=7)
    expected = 20.0 * 1.01 ** np.arange(len(days), len(days) + 7) * WEEKDAY[future.day_of_week]
    # within 5% (the window mean of a ramp and weekday factors estimated on it are
    # approximate); a flat level would be 15% to 25% short here
    np.testing.assert_allclose(fc["yhat"].to_numpy(), expected, rtol=0.05)
    flat = SeasonalProfileForecaster(horizon=7, window=140).fit(history).predict(7)
    assert flat["yhat"].sum() < 0.85 * expected.sum()


def _errors(folds: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame({"fold": range(len(folds)), "y": [y for y, _ in folds],
                         "yhat": [f for _, f in folds]})


def test_bias_rules():
    mixed = _errors([(100, 120), (130, 100), (110, 100)])  # oldest first; newest 110/100
    assert backtest_bias_factor(mixed, rule="latest") == pytest.approx(1.1)
    assert backtest_bias_factor(mixed, rule="consistent") == 1.0  # folds disagree
    short = _errors([(130, 100), (115, 100), (160, 100)])
    assert backtest_bias_factor(short, rule="consistent") == pytest.approx(1.15)
    assert backtest_bias_factor(short, rule="latest") == pytest.approx(1.2)  # limited
    assert backtest_bias_factor(short.iloc[::-1], rule="latest") == pytest.approx(1.2)
    with pytest.raises(ValueError, match="unknown bias correction rule"):
        backtest_bias_factor(short, rule="mean")
    with pytest.raises(ValueError, match="bias_correction_rule"):
        ForecastSettings(bias_correction_rule="mean")
