"""Demand over the protection interval from the forecast, its sigma from the backtest errors."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.inventory import policy
from retail_pipeline.inventory.settings import InventorySettings

AS_OF = pd.Timestamp("2024-06-30")
SETTINGS = InventorySettings(review_period_days=7, recent_days=28)


def _inputs(n_series=60, sigma=None, correlated=False, seed=0):
    """Forecast yhat = day number (1..30) for every pair; backtest errors with known sigma."""
    rng = np.random.default_rng(seed)
    pairs = [(f"S{i % 3}", f"P{i:03d}") for i in range(n_series)]
    sigma = np.linspace(1, 5, n_series) if sigma is None else sigma
    dates = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=30)
    fc = pd.DataFrame([{"date": d, "level": "shop_product", "series_id": f"shop={s}|product={p}",
                        "shop_id": s, "product_id": p, "yhat": float(h + 1)}
                       for s, p in pairs for h, d in enumerate(dates)])
    rows = []
    for i, (s, p) in enumerate(pairs):
        for fold in range(3):
            offset = rng.normal(0, sigma[i])
            for h in range(1, 31):
                e = offset if correlated else rng.normal(0, sigma[i])
                rows.append({"level": "shop_product", "series_id": f"shop={s}|product={p}",
                             "model": "champ", "fold": fold, "h": h, "y": 50 + e, "yhat": 50.0})
    backtest = pd.DataFrame(rows)
    board = pd.DataFrame({"scope": ["level", "level"], "level": ["shop_product"] * 2,
                          "model": ["champ", "other"], "champion": [True, False]})
    # raw sales swing wildly (0 or 200 units): their variance must not be the sigma
    days = pd.date_range(AS_OF - pd.Timedelta(days=399), AS_OF)
    sales = pd.DataFrame([{"date": d, "shop_id": s, "product_id": p,
                           "quantity": float(200 * (k % 2))}
                          for s, p in pairs for k, d in enumerate(days)])
    supply = pd.DataFrame({"product_id": [p for _, p in pairs], "category": "Toys",
                           "standard_price": 1.0, "unit_cost": 0.6, "lead_time_days": 9.5,
                           "lead_time_std_days": 2.0, "order_cost": 1.0, "holding_cost_rate": 0.2,
                           "min_order_qty": 1.0, "pack_size": 1.0, "service_level": np.nan})
    return fc, backtest, board, sales, supply, sigma


def test_expected_demand_is_the_forecast_summed_over_lead_time_plus_review():
    fc, backtest, board, sales, supply, _ = _inputs(n_series=3)
    frame = policy.demand_over_lead_time(fc, backtest, board, sales, supply, SETTINGS)
    # P = 9.5 + 7 = 16.5 days: days 1..16 in full and half of day 17
    expected = sum(range(1, 17)) + 0.5 * 17
    assert frame["protection_days"].tolist() == [16.5] * 3
    assert frame["demand_over_protection"].tolist() == pytest.approx([expected] * 3)
    assert frame["mean_daily_demand"].tolist() == pytest.approx([expected / 16.5] * 3)
    assert (frame["demand_source"] == "forecast").all()
    assert (frame["as_of"] == AS_OF).all()


def test_sigma_comes_from_the_champions_backtest_errors_not_sales_variance():
    fc, backtest, board, sales, supply, sigma = _inputs()
    frame = policy.demand_over_lead_time(fc, backtest, board, sales, supply, SETTINGS)
    assert (frame["sigma_source"] == "backtest:champ").all()
    planted = pd.Series(sigma, index=[f"P{i:03d}" for i in range(len(sigma))])
    ratio = frame["sigma_daily_error"].to_numpy() / frame["product_id"].map(planted).to_numpy()
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)
    kappa = frame["sigma_protection"] / (np.sqrt(16.5) * frame["sigma_daily_error"])
    assert kappa.iloc[0] == pytest.approx(1.0, abs=0.2)  # independent errors
    d = frame["mean_daily_demand"]
    expected = np.sqrt(frame["sigma_protection"] ** 2 + (d * 2.0) ** 2)
    assert frame["sigma_demand"].to_numpy() == pytest.approx(expected.to_numpy())
    assert frame["sigma_daily_error"].max() < 10  # the raw sales' std is 100


def test_errors_that_persist_over_the_horizon_scale_with_the_interval_not_its_root():
    fc, backtest, board, sales, supply, sigma = _inputs(correlated=True)
    frame = policy.demand_over_lead_time(fc, backtest, board, sales, supply, SETTINGS)
    kappa = frame["sigma_protection"] / (np.sqrt(16.5) * frame["sigma_daily_error"])
    # one error e repeated on the 17 horizons h <= 16.5: the sum is 17 e, so
    # kappa^2 = (17 e)^2 / (17 e^2) = 17, against 1 for independent errors
    assert kappa.iloc[0] == pytest.approx(np.sqrt(17), rel=1e-6)
    assert frame["sigma_protection"].iloc[0] == pytest.approx(
        np.sqrt(16.5 * 17) * frame["sigma_daily_error"].iloc[0])


def test_pairs_without_a_forecast_use_the_moving_average_and_its_own_errors():
    fc, backtest, board, sales, supply, _ = _inputs(n_series=3)
    uncovered = fc[fc["product_id"] != "P000"]
    frame = policy.demand_over_lead_time(uncovered, backtest, board, sales, supply,
                                         SETTINGS).set_index("product_id")
    row = frame.loc["P000"]
    assert row["demand_source"] == "moving_average"
    assert row["sigma_source"] == "moving_average"
    assert row["mean_daily_demand"] == pytest.approx(100.0)  # 28 days alternating 0 / 200
    assert row["demand_over_protection"] == pytest.approx(100.0 * 16.5)
    assert frame.loc["P001", "sigma_source"] == "backtest:champ"
