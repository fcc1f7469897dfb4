"""Forecasts that estimate the mean (intermittent demand, a December peak), the bias rule
of the champion choice, and coinciding levels fitted once."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting import naive
from retail_pipeline.forecasting.backtest import champion_decisions, choose_champions
from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.forecasting.pipeline import ForecastSettings, run_forecast

from .conftest import make_sales

DECEMBER = 2.0
SIZE_MEAN = 4.0  # units per sale: 1 + Poisson(3)
WEEKLY = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.4, 0.8])


def _intermittent_sales(end: str, n_products: int = 30, seed: int = 1):
    """One shop, ``n_products`` mostly-zero products; returns (daily_sales, true mean per day).

    A product sells on a day with probability ``q_p x weekly x (DECEMBER in December)`` and
    then ``1 + Poisson(3)`` units, so its expected daily units are known exactly.
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-01-01", end, freq="D")
    q = rng.uniform(0.1, 0.3, n_products)

    def mean(day_index: pd.DatetimeIndex) -> np.ndarray:  # (products, days)
        season = WEEKLY[day_index.day_of_week] * np.where(day_index.month == 12, DECEMBER, 1.0)
        return q[:, None] * season[None, :] * SIZE_MEAN

    prob = mean(days) / SIZE_MEAN
    sells = rng.random(prob.shape) < prob
    units = np.where(sells, 1 + rng.poisson(3.0, prob.shape), 0).astype(float)
    rows = [pd.DataFrame({"date": days[units[p] > 0], "shop_id": "S1",
                          "product_id": f"P{p:02d}", "quantity": units[p][units[p] > 0]})
            for p in range(n_products)]
    return pd.concat(rows, ignore_index=True), mean


SETTINGS = dict(n_folds=3, models=("seasonal_naive", "global_hgb", "croston", "sba", "tsb"),
                n_jobs=2, country="")


@pytest.mark.parametrize(("end", "horizon", "tolerance"), [
    ("2023-09-30", 28, 0.05),  # an ordinary month: within 5% of the true mean
    ("2023-11-30", 31, 0.10),  # all of December, twice the usual demand: within 10%
])
def test_champion_forecasts_the_mean_of_intermittent_demand(end, horizon, tolerance):
    sales, mean = _intermittent_sales(end)
    panel = forecast_panel(sales, levels=["product"], max_series_per_level=None)
    result = run_forecast(panel, ForecastSettings(horizon=horizon, **SETTINGS))
    future = pd.date_range(pd.Timestamp(end) + pd.Timedelta(days=1), periods=horizon)
    true_mean = mean(future).mean()
    forecast = result.forecast
    assert forecast["yhat"].mean() == pytest.approx(true_mean, rel=tolerance)
    board = result.leaderboard
    series = board[board["scope"] == "series"]
    assert series["intermittent"].all() and series["smape"].isna().all()
    assert {"croston", "sba", "tsb"} <= set(board["model"])
    champion = board[(board["scope"] == "level") & board["champion"]].iloc[0]
    assert abs(champion["bias_pct"]) <= 10
    errors = result.errors[result.errors["model"] == champion["model"]]
    assert champion["bias_pct"] == pytest.approx(
        100 * (errors["yhat"] - errors["y"]).sum() / errors["y"].sum())


def _board(rows):
    return pd.DataFrame([{"scope": "level", "level": "product", "model": m, "mase": mase,
                          "bias_pct": bias, "spl": 1.0, "smape": 10.0}
                         for m, mase, bias in rows])


def test_a_biased_model_loses_to_an_unbiased_one_within_five_percent_mase():
    board = _board([("hgb", 0.80, -20.0), ("tsb", 0.83, 3.0), ("naive", 0.95, 0.0)])
    assert choose_champions(board) == {"product": "tsb"}
    reason = champion_decisions(board)["product"][1]
    assert "within 10%" in reason and "hgb" in reason and "-20.0%" in reason
    # more than 5% worse: the lower MASE wins despite its bias, and the reason says so
    board = _board([("hgb", 0.80, -20.0), ("tsb", 0.85, 3.0)])
    assert choose_champions(board) == {"product": "hgb"}
    assert "more than 5% worse" in champion_decisions(board)["product"][1]
    # unbiased best: plain lowest MASE
    board = _board([("hgb", 0.80, -4.0), ("tsb", 0.83, 3.0)])
    assert choose_champions(board) == {"product": "hgb"}
    assert champion_decisions(board)["product"][1].startswith("lowest MASE (0.800)")


def test_coinciding_levels_are_fitted_and_stored_once(monkeypatch):
    sales, _ = make_sales(n_shops=1, n_products=3, n_days=500, seed=2)
    panel = forecast_panel(sales)  # shop S1 = total; each shop x product = its product
    fits = []
    original = naive.SeasonalNaive.fit

    def counting_fit(self, history):
        fits.append(frozenset(history["series_id"]))
        return original(self, history)

    monkeypatch.setattr(naive.SeasonalNaive, "fit", counting_fit)
    settings = ForecastSettings(horizon=14, n_folds=2, models=("seasonal_naive",), n_jobs=1)
    result = run_forecast(panel, settings)
    total, products = frozenset({"total"}), frozenset({"product=P1", "product=P2", "product=P3"})
    # two levels, each fitted once per fold and once on the full history
    assert sorted(fits, key=sorted) == sorted([total] * 3 + [products] * 3, key=sorted)
    fc = result.forecast
    assert len(fc) == 4 * 14 and not fc["series_id"].str.startswith("shop=").any()
    aliases = result.aliases.set_index("series_id")
    assert aliases.loc["shop=S1", "same_as_series_id"] == "total"
    assert aliases.loc["shop=S1|product=P2", "same_as_series_id"] == "product=P2"
    models = result.level_models().set_index("level")
    assert models.loc["shop", "same_as"] == "total"
    assert models.loc["shop_product", "same_as"] == "product"
    assert models.loc["shop", "version"] == models.loc["total", "version"]


def test_a_series_sold_in_one_shop_points_at_the_series_it_repeats():
    sales, _ = make_sales(n_shops=2, n_products=2, n_days=60, seed=3)
    sales = sales[~((sales["shop_id"] == "S2") & (sales["product_id"] == "P2"))]
    from retail_pipeline.forecasting.pipeline import coinciding_series

    aliases = coinciding_series(forecast_panel(sales))
    # P2 is sold in S1 only, and S2 sells nothing but P1
    assert sorted(aliases.values.tolist()) == [
        ["shop_product", "shop=S1|product=P2", "product", "product=P2"],
        ["shop_product", "shop=S2|product=P1", "shop", "shop=S2"]]


def test_expand_aliases_restores_the_repeated_rows():
    from retail_pipeline.forecasting.pipeline import expand_aliases

    sales, _ = make_sales(n_shops=1, n_products=2, n_days=400, seed=6)
    panel = forecast_panel(sales)
    result = run_forecast(panel, ForecastSettings(horizon=7, n_folds=2,
                                                  models=("seasonal_naive",), n_jobs=1))
    full = expand_aliases(result.forecast, result.aliases)
    assert len(full) == panel["series_id"].nunique() * 7
    copy = full[full["series_id"] == "shop=S1|product=P2"].reset_index(drop=True)
    carrier = full[full["series_id"] == "product=P2"].reset_index(drop=True)
    assert (copy["shop_id"] == "S1").all() and (copy["product_id"] == "P2").all()
    assert (copy["level"] == "shop_product").all()
    assert copy["yhat"].tolist() == carrier["yhat"].tolist()


def test_the_default_sample_peaks_in_december_and_its_champions_are_unbiased_there():
    """The sample `make dev` loads: December sells well above the year's average day, and
    every level's champion, backtested on folds in October to December, is within 5% of
    demand (bias recomputed here from the backtest errors)."""
    from retail_pipeline.sales.features import build_daily_sales
    from retail_pipeline.sample import generate

    daily = build_daily_sales(generate().transactions)
    per_day = daily.groupby("date")["quantity"].sum()
    assert per_day[per_day.index.month == 12].mean() > 1.2 * per_day.mean()

    result = run_forecast(forecast_panel(daily), ForecastSettings(n_jobs=2))
    errors = result.errors
    assert errors["origin"].min() >= pd.Timestamp("2025-09-01")  # the run-up to Christmas
    board = result.leaderboard
    champions = board[(board["scope"] == "level") & board["champion"]]
    assert set(champions["level"]) == {"total", "shop", "product", "shop_product"}
    for row in champions.itertuples():
        own = errors[(errors["level"] == row.level) & (errors["model"] == row.model)]
        bias = 100 * (own["yhat"] - own["y"]).sum() / own["y"].sum()
        assert row.bias_pct == pytest.approx(bias)
        assert abs(bias) <= 5, (row.level, row.model, bias)
