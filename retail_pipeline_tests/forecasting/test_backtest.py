import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting import metrics
from retail_pipeline.forecasting.backtest import (
    backtest,
    choose_champions,
    leaderboard,
    mase_scales,
    rolling_origins,
)
from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.forecasting.pipeline import ForecastSettings, model_factories

from .conftest import make_sales


def test_metric_values_by_hand():
    y, yhat = np.array([0.0, 2.0, 4.0]), np.array([0.0, 1.0, 6.0])
    assert metrics.smape(y, yhat) == pytest.approx((0 + 200 * 1 / 3 + 200 * 2 / 10) / 3)
    assert metrics.mae(y, yhat) == pytest.approx(1.0)
    assert metrics.mse(y, yhat) == pytest.approx(5 / 3)
    assert metrics.rmse(y, yhat) == pytest.approx(np.sqrt(5 / 3))
    assert metrics.r2(y, yhat) == pytest.approx(1 - 5 / 8)
    assert metrics.coverage(y, y - 1, y + 0.5) == 1.0
    history = pd.DataFrame({"series_id": "a", "ds": pd.date_range("2024-01-01", periods=9),
                            "y": [1.0, 2, 3, 4, 5, 6, 7, 3, 2]})
    assert metrics.naive_scale(history)["a"] == pytest.approx((2 + 0) / 2)


def test_rolling_origins_leave_horizon_days_after_the_last():
    origins = rolling_origins(pd.Timestamp("2024-12-31"), horizon=30, n_folds=3)
    assert origins == [pd.Timestamp("2024-10-02"), pd.Timestamp("2024-11-01"),
                       pd.Timestamp("2024-12-01")]
    assert (pd.Timestamp("2024-12-31") - origins[-1]).days == 30


@pytest.fixture(scope="module")
def board_and_errors():
    sales, _ = make_sales(n_shops=2, n_products=3, n_days=3 * 365, seed=5)
    panel = forecast_panel(sales, levels=["product", "shop_product"], max_series_per_level=None)
    settings = ForecastSettings(horizon=28, n_folds=3,
                                models=("seasonal_naive", "global_hgb", "random_forest"))
    errors = backtest(panel, model_factories(settings), 28, 3)
    return panel, errors, leaderboard(errors, mase_scales(panel, errors))


def test_backtest_rows_and_leaderboard_metrics(board_and_errors):
    panel, errors, board = board_and_errors
    n_series = panel["series_id"].nunique()
    assert len(errors) == n_series * 3 * 3 * 28  # series x models x folds x days
    assert (errors["ds"] > errors["origin"]).all() and errors["h"].between(1, 28).all()
    one = board[(board["scope"] == "series") & (board["series_id"] == "shop=S1|product=P1")
                & (board["model"] == "global_hgb")].iloc[0]
    e = errors[(errors["series_id"] == "shop=S1|product=P1") & (errors["model"] == "global_hgb")]
    assert one["mae"] == pytest.approx(np.mean(np.abs(e["y"] - e["yhat"])))
    assert one["smape"] == pytest.approx(metrics.smape(e["y"], e["yhat"]))
    assert one["r2"] == pytest.approx(metrics.r2(e["y"], e["yhat"]))
    assert one["rmse"] == pytest.approx(np.sqrt(np.mean((e["y"] - e["yhat"]) ** 2)))
    first = errors["origin"].min()
    hist = panel[(panel["series_id"] == "shop=S1|product=P1") & (panel["ds"] <= first)]
    scale = np.mean(np.abs(hist["y"].to_numpy()[7:] - hist["y"].to_numpy()[:-7]))
    assert one["mase"] == pytest.approx(one["mae"] / scale)
    inside = ((e["y"] >= e["yhat_lower"]) & (e["y"] <= e["yhat_upper"])).mean()
    assert one["coverage80"] == pytest.approx(inside)


def test_champion_beats_seasonal_naive(board_and_errors):
    _, _, board = board_and_errors
    champions = choose_champions(board)
    levels = board[board["scope"] == "level"].set_index(["level", "model"])
    for level, model in champions.items():
        assert model != "seasonal_naive"
        assert levels.loc[(level, model), "mase"] < levels.loc[(level, "seasonal_naive"), "mase"]
        assert levels.loc[(level, model), "mae"] < levels.loc[(level, "seasonal_naive"), "mae"]
        assert bool(levels.loc[(level, model), "champion"])
    assert board["champion"].sum() == len(champions)
