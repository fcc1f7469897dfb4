"""The inventory formulas against values computed by hand, and the report built from them."""

import math

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.inventory import policy

Z95 = 1.6448536269514722  # the standard normal 95% quantile


def test_safety_stock_with_and_without_lead_time_variability():
    # L = 9 days, sigma_D = 4 units/day, d = 20 units/day, sigma_L = 2 days
    with_lt = policy.safety_stock(Z95, 9, 4.0, 20.0, 2.0)
    assert with_lt == pytest.approx(Z95 * math.sqrt(9 * 16 + 400 * 4))
    assert with_lt == pytest.approx(68.6911, abs=1e-3)  # 1.64485 x 41.7612
    without = policy.safety_stock(Z95, 9, 4.0, 20.0)
    assert without == pytest.approx(Z95 * 12)  # z sqrt(9 x 16)
    assert policy.z_value(0.95) == pytest.approx(Z95)


def test_reorder_point_is_demand_over_the_interval_plus_safety_stock():
    assert policy.reorder_point(20.0, 16, 68.69) == pytest.approx(20 * 16 + 68.69)


def test_eoq_with_pack_size_and_minimum():
    # D = 3650 units/year, K = 50, h = 25%/year, c = 4: sqrt(2 x 3650 x 50 / 1) = 604.15
    raw = policy.economic_order_quantity(3650, 50, 4, 0.25)
    assert raw == pytest.approx(605.0)  # rounded up to whole units (pack of 1)
    assert policy.economic_order_quantity(3650, 50, 4, 0.25, pack_size=12) == 612  # 51 packs
    assert policy.economic_order_quantity(3650, 50, 4, 0.25, pack_size=12,
                                          min_order_qty=1000) == 1008  # 84 packs >= 1000
    assert policy.economic_order_quantity(0, 50, 4, 0.25, pack_size=12, min_order_qty=10) == 0


def test_order_quantity_and_days_of_cover():
    assert list(policy.order_quantity([0, 3, 13, -2], 6, 10)) == [0, 12, 18, 0]
    cover = policy.days_of_cover([45, 10], [7.5, 0])
    assert cover[0] == pytest.approx(6.0)
    assert math.isnan(cover[1])


def test_stockout_probability():
    assert policy.stockout_probability(120, 100, 10) == pytest.approx(1 - 0.9772498680518208)
    assert policy.stockout_probability(5, 6, 0) == 1.0
    assert policy.stockout_probability(6, 6, 0) == 0.0


def _report_inputs(positions):
    n = len(positions)
    demand = pd.DataFrame({
        "as_of": pd.Timestamp("2024-06-30"), "shop_id": "S1", "product_id": [f"P{i}" for i in range(n)],
        "lead_time_days": 9.0, "lead_time_std_days": 2.0, "review_period_days": 7.0,
        "protection_days": 16.0, "mean_daily_demand": 20.0, "demand_over_protection": 320.0,
        "sigma_daily_error": 4.0, "sigma_protection": 16.0,
        "sigma_demand": math.sqrt(16**2 + 40**2), "demand_source": "forecast",
        "sigma_source": "backtest:x"})
    supply = pd.DataFrame({
        "product_id": demand["product_id"], "category": "Toys", "standard_price": 10.0,
        "unit_cost": 4.0, "lead_time_days": 9.0, "lead_time_std_days": 2.0, "order_cost": 50.0,
        "holding_cost_rate": 0.25, "min_order_qty": 10.0, "pack_size": 12.0,
        "service_level": np.nan})
    classes = pd.DataFrame({"product_id": demand["product_id"], "abc_class": "B",
                            "xyz_class": "X", "service_level": 0.95})
    stock = pd.DataFrame({"shop_id": "S1", "product_id": demand["product_id"],
                          "stock_date": pd.Timestamp("2024-06-30"),
                          "on_hand": np.asarray(positions, float), "on_order": 0.0,
                          "expected_arrival": pd.NaT})
    return demand, classes, supply, stock


def test_report_values_by_hand():
    demand, classes, supply, stock = _report_inputs([100.0])
    row = policy.reorder_report(demand, classes, supply, stock).iloc[0]
    ss = Z95 * math.sqrt(16 * 16 + 20**2 * 2**2)  # sigma_P^2 = 16 days x 4^2
    assert row["safety_stock"] == pytest.approx(ss)
    assert row["reorder_point"] == pytest.approx(320 + ss)
    eoq = 12 * math.ceil(math.sqrt(2 * 20 * 365 * 50 / (0.25 * 4)) / 12)  # 1209 -> 1212
    assert row["economic_order_quantity"] == eoq
    assert row["order_up_to"] == pytest.approx(320 + ss + eoq - 20 * 7)
    assert bool(row["reorder_now"])
    need = 320 + ss + eoq - 140 - 100
    assert row["recommended_qty"] == 12 * math.ceil(need / 12)
    assert row["order_value"] == pytest.approx(4 * row["recommended_qty"])
    assert row["days_of_cover"] == pytest.approx(5.0)
    # no open order: the next arrival is one lead time away; demand 180 +- sqrt(9/16 x 256 + 1600)
    sigma = math.sqrt(9 / 16 * 256 + 1600)
    assert row["stockout_probability"] == pytest.approx(
        policy.stockout_probability(100, 180, sigma))


def test_reorder_now_exactly_when_position_at_or_below_reorder_point():
    demand, classes, supply, stock = _report_inputs([0.0])
    rop = policy.reorder_report(demand, classes, supply, stock)["reorder_point"].iloc[0]
    positions = [0.0, rop - 1, math.floor(rop), rop, rop + 1e-6, rop + 1, 2 * rop]
    demand, classes, supply, stock = _report_inputs(positions)
    stock["on_order"] = [0.0, 5.0, 0.0, 0.0, 0.0, 3.0, 0.0]
    stock["on_hand"] = np.asarray(positions) - stock["on_order"]
    report = policy.reorder_report(demand, classes, supply, stock)
    expected = [p <= rop for p in positions]
    assert report["inventory_position"].tolist() == pytest.approx(positions)
    assert report["reorder_now"].tolist() == expected
    assert (report["recommended_qty"] > 0).tolist() == expected
    assert (report.loc[~report["reorder_now"], "order_value"] == 0).all()
