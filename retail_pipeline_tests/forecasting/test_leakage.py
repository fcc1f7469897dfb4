"""Nothing inside the forecast period can influence the features or the forecast."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.backtest import backtest
from retail_pipeline.forecasting.boosting import GlobalBoostingForecaster
from retail_pipeline.forecasting.lags import build_features
from retail_pipeline.forecasting.matrix import SeriesMatrix
from retail_pipeline.forecasting.panel import forecast_panel

from .conftest import make_sales

H = 21


@pytest.fixture(scope="module")
def panel():
    sales, _ = make_sales(n_shops=2, n_products=2, n_days=900, seed=3)
    return forecast_panel(sales, levels=["shop_product"], max_series_per_level=None)


def _perturb_after(panel, origin, seed):
    rng = np.random.default_rng(seed)
    out = panel.copy()
    future = out["ds"] > origin
    out.loc[future, "y"] = rng.integers(0, 500, future.sum()).astype(float)
    return out


def test_each_feature_row_reads_only_days_at_least_min_lag_old(panel):
    m = SeriesMatrix.from_frame(panel[["series_id", "ds", "y"]])
    origin = m.values.shape[1] - 1 - 60
    targets = np.arange(origin - 30, origin + H + 1)
    history = m.values[:, : origin + 1]
    full = build_features(history, m.dates[0], targets, H)
    profile_cols = [i for i, n in enumerate(full.names) if n.endswith("_profile")]
    lag_cols = [i for i in range(len(full.names)) if i not in profile_cols]
    n = history.shape[0]
    for j, d in enumerate(targets):
        # the same row computed from a history that stops exactly min_lag days before d
        cut = build_features(history[:, : d - H + 1], m.dates[0], np.array([d]), H)
        rows = full.X.reshape(n, len(targets), -1)[:, j, :]
        np.testing.assert_array_equal(rows[:, lag_cols], cut.X[:, lag_cols])
    with pytest.raises(AssertionError, match="leakage"):
        build_features(history, m.dates[0], np.array([origin + H + 1]), H)


def test_changing_forecast_period_values_changes_nothing_before_it(panel):
    origin = panel["ds"].max() - pd.Timedelta(days=H)
    changed = _perturb_after(panel, origin, seed=7)
    assert not np.allclose(changed["y"], panel["y"])

    def forecast(p):
        model = GlobalBoostingForecaster(horizon=H, max_iter=40)
        history = p[p["ds"] <= origin][["series_id", "ds", "y"]]
        X, z, _ = model.training_rows(SeriesMatrix.from_frame(history))
        return X, z, model.fit(history).predict(H)

    X1, z1, f1 = forecast(panel)
    X2, z2, f2 = forecast(changed)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(z1, z2)
    pd.testing.assert_frame_equal(f1, f2)


def test_backtest_forecasts_ignore_their_own_actuals(panel):
    factories = {"global_hgb": lambda level, n, h: GlobalBoostingForecaster(horizon=h, max_iter=30)}
    base = backtest(panel, factories, horizon=H, n_folds=3)
    last_origin = base["origin"].max()
    changed = _perturb_after(panel, last_origin, seed=11)
    again = backtest(changed, factories, horizon=H, n_folds=3)
    np.testing.assert_array_equal(base["yhat"].to_numpy(), again["yhat"].to_numpy())
    assert not np.array_equal(base["y"].to_numpy(), again["y"].to_numpy())
