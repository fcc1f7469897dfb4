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
    assert backtest_bias_factor(short, rule="latest") == pytest.approx(1.25)  # limited
    assert backtest_bias_factor(short.iloc[::-1], rule="latest") == pytest.approx(1.25)
    # the limits are the same distance on the log scale: a 20% cut, a 25% raise
    high = _errors([(100, 100), (40, 100)])
    assert backtest_bias_factor(high, rule="latest") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="unknown bias correction rule"):
        backtest_bias_factor(short, rule="mean")
    with pytest.raises(ValueError, match="bias_correction_rule"):
        ForecastSettings(bias_correction_rule="mean")


def _shop_product_history(levels: np.ndarray, shops: np.ndarray, products: np.ndarray,
                          days: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    units = np.random.default_rng(seed).poisson(np.repeat(levels[:, None], len(days), axis=1))
    ids = [f"shop={s}|product={p}" for s, p in zip(shops, products, strict=True)]
    return pd.DataFrame({"series_id": np.repeat(ids, len(days)), "ds": np.tile(days, len(ids)),
                         "y": units.reshape(-1).astype(float)})


def _grid(n_shops: int, n_products: int, seed: int):
    rng = np.random.default_rng(seed)
    shop_size, product_size = rng.uniform(0.5, 2.0, n_shops), rng.uniform(0.5, 5.0, n_products)
    shops, products = np.repeat(np.arange(n_shops), n_products), np.tile(np.arange(n_products), n_shops)
    return shop_size[shops] * product_size[products], shops, products


def test_pooled_level_removes_noise_where_every_shop_sells_the_same_mix():
    """Planted: level = shop size x product size, Poisson days. The pooled level is nearer
    the truth than each series' own mean; outside shop x product nothing is pooled."""
    days = pd.date_range("2021-01-04", periods=364, freq="D")
    truth, shops, products = _grid(6, 40, seed=11)
    history = _shop_product_history(truth, shops, products, days, seed=12)
    own = history.groupby("series_id", sort=True)["y"].mean()  # flat shape: level = mean
    order = np.argsort([f"shop={s}|product={p}" for s, p in zip(shops, products, strict=True)])
    truth = truth[order]  # the model's series are in sorted id order

    single = SeasonalProfileForecaster(horizon=7, pool_level=False).fit(history)
    pooled = SeasonalProfileForecaster(horizon=7).fit(history)
    own_error = np.sqrt(np.mean((own.to_numpy() / truth - 1) ** 2))
    np.testing.assert_allclose(single.level, own.to_numpy(), rtol=0.01)  # weekday noise only
    single_error = np.sqrt(np.mean((single.level / truth - 1) ** 2))
    pooled_error = np.sqrt(np.mean((pooled.level / truth - 1) ** 2))
    assert single_error == pytest.approx(own_error, rel=0.1)
    assert pooled_error < 0.5 * single_error

    # the same series keyed by product alone: nothing to pool over, the level is the own one
    by_product = history.assign(series_id=history["series_id"].str.replace("|", "-", regex=False)
                                .str.replace("shop=", "product=s", regex=False))
    alone = SeasonalProfileForecaster(horizon=7).fit(by_product)
    np.testing.assert_allclose(np.sort(alone.level), np.sort(single.level))


def test_pooled_level_keeps_real_differences_between_shops():
    """Planted: every shop x product level 30% off the shop x product product (shops sell
    different mixes), large volumes: the pooled level stays each series' own."""
    days = pd.date_range("2021-01-04", periods=364, freq="D")
    base, shops, products = _grid(6, 40, seed=21)
    truth = 20 * base * np.exp(np.random.default_rng(22).normal(0, 0.3, len(base)))
    history = _shop_product_history(truth, shops, products, days, seed=23)
    single = SeasonalProfileForecaster(horizon=7, pool_level=False).fit(history)
    pooled = SeasonalProfileForecaster(horizon=7).fit(history)
    np.testing.assert_allclose(pooled.level, single.level, rtol=0.003)


def test_latest_rule_applies_only_the_part_of_the_ratio_that_stands_out_of_noise():
    rng = np.random.default_rng(4)
    yhat = np.full(800, 1.0)

    def fold(y):
        return pd.DataFrame({"fold": 0, "y": y, "yhat": yhat})

    # sparse days (a sale of 1 + Poisson(3) units on a quarter of them, mean 1): 5% high is
    # well inside one fold's noise (se about 0.06), so nothing is applied
    sparse = np.where(rng.random(800) < 0.25, 1 + rng.poisson(3.0, 800), 0) * 1.05
    ratio = sparse.sum() / yhat.sum()
    se = np.sqrt(np.sum((sparse - ratio * yhat) ** 2)) / yhat.sum()
    assert abs(ratio - 1) < se
    assert backtest_bias_factor(fold(sparse), rule="latest") == 1.0
    # the same 20% shortfall on smooth demand stands far out of its noise: applied nearly whole
    smooth = rng.normal(1.2, 0.05, 800)
    ratio = smooth.sum() / yhat.sum()
    se = np.sqrt(np.sum((smooth - ratio * yhat) ** 2)) / yhat.sum()
    expected = 1 + (1 - se ** 2 / (ratio - 1) ** 2) * (ratio - 1)
    assert backtest_bias_factor(fold(smooth), rule="latest") == pytest.approx(expected)
    assert expected == pytest.approx(ratio, abs=1e-4)
