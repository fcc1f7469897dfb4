"""The policy replay on synthetic demand with a known distribution and random lead times."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.inventory.settings import InventorySettings
from retail_pipeline.inventory.simulation import ReplaySetup, policy_simulation, replay, summarise

TARGETS = {"A": 0.98, "B": 0.95, "C": 0.90}


@pytest.fixture(scope="module")
def synthetic():
    """180 series of Poisson demand (means 5-40/day), lead times 4-11 days +- 3 days."""
    rng = np.random.default_rng(2024)
    n, days = 180, 560
    mean = rng.uniform(5, 40, n)
    demand = rng.poisson(mean[:, None], (n, days)).astype(float)
    classes = np.array(["A", "B", "C"])[np.arange(n) % 3]
    setup = ReplaySetup(demand=demand, lead_time=rng.integers(4, 12, n).astype(float),
                        lead_time_std=np.full(n, 3.0),
                        service_level=np.array([TARGETS[c] for c in classes]),
                        eoq=np.zeros(n), pack_size=np.ones(n), min_order_qty=np.ones(n))
    return setup, classes


def test_achieved_cycle_service_level_within_two_points_of_target(synthetic):
    setup, classes = synthetic
    result = summarise(replay(setup, weeks=26, method="forecast_error", seed=5), classes,
                       TARGETS, "forecast_error").set_index("abc_class")
    for name, target in TARGETS.items():
        assert result.loc[name, "cycles"] > 1000
        assert abs(result.loc[name, "cycle_service_level"] - target) <= 0.02, result


def test_without_the_lead_time_variance_term_the_service_falls_short(synthetic):
    setup, classes = synthetic
    with_term = summarise(replay(setup, weeks=26, method="forecast_error", seed=5), classes,
                          TARGETS, "x").set_index("abc_class")
    without = summarise(replay(setup, weeks=26, method="no_lead_time_variance", seed=5), classes,
                        TARGETS, "x").set_index("abc_class")
    for name, target in TARGETS.items():
        assert without.loc[name, "cycle_service_level"] < target - 0.05
        assert without.loc[name, "average_stock"] < with_term.loc[name, "average_stock"]


def test_with_fixed_lead_times_the_term_is_zero_and_both_agree(synthetic):
    setup, classes = synthetic
    fixed = ReplaySetup(**{**setup.__dict__, "lead_time_std": np.zeros(len(classes))})
    a = replay(fixed, weeks=26, method="forecast_error", seed=5)
    b = replay(fixed, weeks=26, method="no_lead_time_variance", seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_replay_uses_no_demand_after_the_review_day(synthetic):
    """Changing demand on the last replayed day cannot change any decision before it."""
    setup, classes = synthetic
    changed = setup.demand.copy()
    changed[:, -1] *= 5
    a = replay(setup, weeks=26, seed=5)
    b = replay(ReplaySetup(**{**setup.__dict__, "demand": changed}), weeks=26, seed=5)
    assert (a["orders"] == b["orders"]).all()


def test_policy_simulation_from_daily_sales_scores_every_policy_and_class():
    rng = np.random.default_rng(3)
    days = pd.date_range("2022-01-01", periods=500, freq="D")
    products = [f"P{i}" for i in range(12)]
    rows = [(d, "S1", p, q) for i, p in enumerate(products)
            for d, q in zip(days, rng.poisson(3 + 3 * i, len(days)), strict=True) if q > 0]
    sales = pd.DataFrame(rows, columns=["date", "shop_id", "product_id", "quantity"])
    supply = pd.DataFrame({"product_id": products, "category": "Toys", "standard_price": 5.0,
                           "unit_cost": 3.0, "lead_time_days": 6.0, "lead_time_std_days": 1.0,
                           "order_cost": 1.0, "holding_cost_rate": 0.25, "min_order_qty": 1.0,
                           "pack_size": 1.0, "service_level": np.nan})
    classes = pd.DataFrame({"product_id": products, "abc_class": ["A"] * 4 + ["B"] * 4 + ["C"] * 4,
                            "service_level": [0.98] * 4 + [0.95] * 4 + [0.9] * 4})
    frame = policy_simulation(sales, supply, classes, InventorySettings(simulation_weeks=20))
    assert set(frame["policy"]) == {"forecast_error", "textbook", "textbook_equal_service"}
    assert set(frame["abc_class"]) == {"A", "B", "C"}
    assert (frame["series"] == 4).all()
    assert frame["first_day"].iloc[0] == days[-140]
    ours = frame[frame["policy"] == "forecast_error"].set_index("abc_class")
    assert (ours["cycle_service_level"] >= ours["target_service_level"] - 0.1).all()
    equal = frame[frame["policy"] == "textbook_equal_service"].set_index("abc_class")
    assert (equal["cycle_service_level"] >= ours["cycle_service_level"]).all()


def test_pooled_allocation_meets_each_class_target_on_average_at_the_least_stock():
    from scipy.stats import norm

    from retail_pipeline.inventory.policy import pooled_z

    rng = np.random.default_rng(7)
    sigma = rng.lognormal(3, 0.8, 300)
    classes = np.array(["A", "B", "C"])[np.arange(300) % 3]
    target = np.array([TARGETS[c] for c in classes])
    z = pooled_z(sigma, target, classes, min_service=0.6)
    for name, goal in TARGETS.items():
        part = classes == name
        assert norm.cdf(z[part]).mean() == pytest.approx(goal, abs=1e-6)
        # less total safety stock than every series at the target, for the same mean service
        assert (z[part] * sigma[part]).sum() < (norm.ppf(goal) * sigma[part]).sum()
        order = np.argsort(sigma[part])  # the cheaper a series is to protect, the more service
        assert (np.diff(z[part][order]) <= 1e-12).all()
    assert norm.cdf(z).min() >= 0.6 - 1e-9


def test_pooled_allocation_in_the_replay_holds_the_targets_with_less_stock(synthetic):
    setup, classes = synthetic
    pooled = ReplaySetup(**{**setup.__dict__, "classes": classes, "allocation": "pooled"})
    each = summarise(replay(setup, weeks=26, seed=5), classes, TARGETS, "x").set_index("abc_class")
    shared = summarise(replay(pooled, weeks=26, seed=5), classes, TARGETS, "x").set_index("abc_class")
    for name, target in TARGETS.items():
        assert abs(shared.loc[name, "cycle_service_level"] - target) <= 0.02, shared
    assert shared["average_stock"].sum() < each["average_stock"].sum()
