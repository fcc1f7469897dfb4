"""The block-wise paths (sales panel, demand, policy replay) give the dense reference's values.

The steps hold the daily units of a few thousand shop x product pairs at a time instead of
the whole pairs x days matrix (9 GB at 200 shops x 5,000 products); here the blocks are a
few pairs wide, so every step crosses many block borders, and the results are compared
with the dense matrix, the reference formulas and the replay as it was written on it.
"""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.inventory import policy
from retail_pipeline.inventory import simulation as sim
from retail_pipeline.inventory.columns import PANEL_SALES_COLUMNS
from retail_pipeline.inventory.settings import InventorySettings


@pytest.fixture(scope="module")
def sales():
    """Two years of daily sales of 3 shops x 9 products, some pairs sparse, some starting late."""
    rng = np.random.default_rng(11)
    days = pd.date_range("2022-01-01", periods=730, freq="D")
    rows = []
    for s in ("S1", "S10", "S2"):  # "S10" sorts between "S1" and "S2"
        for i in range(9):
            mean = rng.uniform(0.2, 12)
            start = 0 if i % 4 else int(rng.integers(0, 500))
            units = rng.poisson(mean, len(days)) - (rng.random(len(days)) < 0.02)  # some returns
            rows += [(d, s, f"P{i}", float(q)) for d, q in zip(days[start:], units[start:], strict=True)
                     if q != 0]
    frame = pd.DataFrame(rows, columns=PANEL_SALES_COLUMNS)
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # rows in no order


@pytest.fixture(scope="module")
def supply(sales):
    products = sorted(sales["product_id"].unique())
    return pd.DataFrame({"product_id": products, "category": "Toys", "standard_price": 5.0,
                         "unit_cost": 3.0, "lead_time_days": np.arange(len(products)) % 5 + 3.0,
                         "lead_time_std_days": 1.5, "order_cost": 10.0, "holding_cost_rate": 0.25,
                         "min_order_qty": 2.0, "pack_size": [1.0, 6.0, 2.0] * 3,
                         "service_level": np.nan})


def _dense(sales: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The reference: every pair x day zero-filled with pandas, pairs sorted by shop, product."""
    wide = sales.pivot_table(index=["shop_id", "product_id"], columns="date", values="quantity",
                             aggfunc="sum", fill_value=0.0)
    days = pd.date_range(sales["date"].min(), sales["date"].max(), freq="D")
    wide = wide.reindex(columns=days, fill_value=0.0).sort_index()
    return wide.index.to_frame(index=False), wide.to_numpy("float64")


def test_the_panel_blocks_are_the_rows_of_the_dense_matrix(sales):
    keys, matrix = _dense(sales)
    panel = policy.SalesPanel.from_daily_sales(sales)
    pd.testing.assert_frame_equal(panel.keys, keys.astype("str"))
    rows = np.array([5, 0, 26, 13])
    np.testing.assert_array_equal(panel.block(rows), matrix[rows])
    np.testing.assert_array_equal(panel.block(rows, 700), matrix[rows, 700:])
    pieces = [block for _, block in panel.blocks(size=4)]
    assert len(pieces) == 7
    np.testing.assert_array_equal(np.concatenate(pieces), matrix)
    chosen = panel.select(np.array([3, 1]))
    np.testing.assert_array_equal(chosen.block(np.arange(2)), matrix[[3, 1]])
    grouped = chosen.by_day(600)
    for k in (0, 77, 129):
        np.testing.assert_array_equal(chosen.column(grouped, k), matrix[[3, 1], 600 + k])


def test_demand_over_lead_time_is_the_same_in_blocks_of_any_size(sales, supply, monkeypatch):
    empty = pd.DataFrame({"level": pd.Series(dtype="str")})
    settings = InventorySettings()
    whole = policy.demand_over_lead_time(empty, empty, pd.DataFrame(), sales, supply, settings)
    monkeypatch.setattr(policy, "BLOCK_PAIRS", 4)
    blocked = policy.demand_over_lead_time(empty, empty, pd.DataFrame(), sales, supply, settings)
    pd.testing.assert_frame_equal(blocked, whole, check_exact=True)
    # the simple forecaster's sigma of every pair, as the reference formula gives it on the
    # dense rows of all of them at once
    keys, matrix = _dense(sales)
    p = np.ceil(whole["protection_days"].to_numpy()).astype(int)
    at = keys.reset_index().merge(whole, on=["shop_id", "product_id"])["index"].to_numpy()
    days = matrix.shape[1]
    yearly = policy.uses_yearly_profile(days, 28, int(p.max()))
    lookback = min(182, days - int(p.max()) - 28 - (policy.YEAR if yearly else 0))
    sigma = policy.simple_forecast_sigma(policy.cumulative(matrix[at]), days, p, 28, lookback, yearly)
    np.testing.assert_array_equal(whole["sigma_protection"].to_numpy(), sigma)


def _reference_replay(setup: sim.ReplaySetup, *, weeks: int, review: int, window: int,
                      lookback: int, method: str, seed: int, safety_scale) -> pd.DataFrame:
    """The replay as written on the dense matrix: forecasts and sigmas worked out at each
    review, all arrivals of the run kept, cycles scored from the day-by-day stock-outs."""
    y = setup.demand
    n, total = y.shape
    start = total - 7 * weeks
    lead, lead_std = setup.lead_time, setup.lead_time_std
    protection = np.ceil(lead + review).astype(int)
    years = max(k for k in range(sim.MAX_PROFILE_YEARS + 1)
                if start - lookback >= k * policy.YEAR + window)
    lookback = min(lookback, start - window - policy.YEAR * years)
    cum = policy.cumulative(y)
    z = policy.z_value(setup.service_level)
    rng = np.random.default_rng(seed)
    arrivals = np.zeros((n, total + 40))
    short = np.zeros((n, total - start), dtype=bool)
    on_hand, met_sum, stock_sum = None, np.zeros(n), np.zeros(n)
    for day in range(start, total):
        if (day - start) % review == 0:
            ahead = policy.simple_forecast(cum, np.array([day]), protection, window, years)[:, 0]
            mean = ahead / protection
            if method == "textbook":
                safety = z * y[:, day - lookback:day].std(axis=1) * np.sqrt(lead)
            else:
                sigma = np.sqrt(policy.simple_forecast_sigma(cum, day, protection, window, lookback,
                                                             years) ** 2 + (mean * lead_std) ** 2)
                safety = z * sigma
            s = ahead + safety * safety_scale
            up_to = s + np.maximum(setup.eoq - mean * review, 0.0)
            on_hand = up_to.copy() if on_hand is None else on_hand
            position = on_hand + arrivals[:, day:].sum(axis=1)
            qty = policy.order_quantity(np.where(position <= s, up_to - position, 0.0),
                                        setup.pack_size, setup.min_order_qty)
            drawn = np.maximum(np.round(lead + lead_std * rng.standard_normal(n)), 1).astype(int)
            placed = np.flatnonzero(qty > 0)
            arrivals[placed, day + drawn[placed]] += qty[placed]
        on_hand = on_hand + arrivals[:, day]
        available = np.maximum(on_hand, 0.0)
        met = np.minimum(available, y[:, day])
        short[:, day - start] = y[:, day] > available + 1e-9
        on_hand = on_hand - y[:, day]
        met_sum += met
        stock_sum += np.maximum(on_hand, 0.0)
    cycles, bad = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    for i in range(n):
        days = np.flatnonzero(arrivals[i, start:total] > 0)
        for a, b in zip(days[:-1], days[1:], strict=True):
            cycles[i] += 1
            bad[i] += bool(short[i, a:b].any())
    return pd.DataFrame({"cycles": cycles, "stockout_cycles": bad, "met": met_sum,
                         "average_stock": stock_sum / (total - start),
                         "stockout_days": short.sum(axis=1), "demand": y[:, start:].sum(axis=1)})


@pytest.mark.parametrize("method", ["forecast_error", "textbook"])
def test_the_replay_in_blocks_matches_the_dense_reference(sales, method, monkeypatch):
    _, matrix = _dense(sales)
    rows = matrix[:, :300].sum(axis=1) > 0  # pairs with a long enough history
    n = int(rows.sum())
    rng = np.random.default_rng(5)
    setup = sim.ReplaySetup(demand=matrix[rows], lead_time=rng.integers(3, 9, n).astype(float),
                            lead_time_std=np.full(n, 2.0), service_level=np.full(n, 0.95),
                            eoq=rng.integers(0, 40, n).astype(float),
                            pack_size=np.where(np.arange(n) % 2, 6.0, 1.0),
                            min_order_qty=np.full(n, 2.0))
    scale = np.linspace(0.5, 1.5, n)
    monkeypatch.setattr(policy, "BLOCK_PAIRS", 3)
    ours = sim.replay(setup, weeks=20, review=7, method=method, seed=9, safety_scale=scale)
    reference = _reference_replay(setup, weeks=20, review=7, window=28, lookback=182,
                                  method=method, seed=9, safety_scale=scale)
    assert (reference["stockout_cycles"] > 0).any() and (reference["cycles"] > 1).all()
    pd.testing.assert_frame_equal(ours[reference.columns], reference, check_exact=True)


def _classes(supply: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"product_id": supply["product_id"], "abc_class": list("AABBBCCCC"),
                         "service_level": [0.98, 0.98, 0.95, 0.95, 0.95, 0.9, 0.9, 0.9, 0.9]})


def test_policy_simulation_is_the_same_in_blocks_of_any_size(sales, supply, monkeypatch):
    settings = InventorySettings(simulation_weeks=20)
    whole = sim.policy_simulation(sales, supply, _classes(supply), settings)
    monkeypatch.setattr(policy, "BLOCK_PAIRS", 5)
    blocked = sim.policy_simulation(sales, supply, _classes(supply), settings)
    pd.testing.assert_frame_equal(blocked, whole, check_exact=True)
    assert blocked.attrs == {"replayed_pairs": 27, "eligible_pairs": 27}


def test_more_pairs_than_the_limit_replays_a_seeded_sample(sales, supply):
    unlimited = sim.policy_simulation(sales, supply, _classes(supply),
                                      InventorySettings(simulation_weeks=20, simulation_max_pairs=0))
    at_limit = sim.policy_simulation(sales, supply, _classes(supply),
                                     InventorySettings(simulation_weeks=20, simulation_max_pairs=27))
    pd.testing.assert_frame_equal(at_limit, unlimited, check_exact=True)
    settings = InventorySettings(simulation_weeks=20, simulation_max_pairs=12)
    sample = sim.policy_simulation(sales, supply, _classes(supply), settings)
    assert sample.attrs == {"replayed_pairs": 12, "eligible_pairs": 27}
    assert sample.groupby("policy")["series"].sum().eq(12).all()
    again = sim.policy_simulation(sales, supply, _classes(supply), settings)
    pd.testing.assert_frame_equal(again, sample, check_exact=True)


def test_the_forecast_grid_is_the_pivot_table_reindexed_to_the_keys():
    rng = np.random.default_rng(2)
    dates = pd.date_range("2024-07-01", periods=5)
    forecast = pd.DataFrame([(s, p, d, float(rng.normal(3, 2))) for s in ("S1", "S2", "S10")
                             for p in ("P1", "P2") for d in dates],
                            columns=["shop_id", "product_id", "date", "yhat"])
    forecast = pd.concat([forecast, forecast.iloc[[3, 7]].assign(yhat=[0.1, 0.7])])  # twice
    forecast = forecast.sample(frac=1.0, random_state=4)
    keys = pd.DataFrame({"shop_id": ["S2", "S9", "S1", "S10", "S2"],  # S9: not forecast
                         "product_id": ["P2", "P1", "P1", "P2", "P2"]})
    reference = (forecast.pivot_table(index=["shop_id", "product_id"], columns="date",
                                      values="yhat", aggfunc="sum")
                 .reindex(pd.MultiIndex.from_frame(keys)).to_numpy())
    grid = policy.forecast_grid(forecast, forecast["yhat"], ["shop_id", "product_id"], keys)
    np.testing.assert_array_equal(grid, reference)
    assert np.isnan(grid[1]).all() and not np.isnan(grid[[0, 2, 3, 4]]).any()
    unique = forecast.drop_duplicates(["shop_id", "product_id", "date"])
    np.testing.assert_array_equal(
        policy.forecast_grid(unique, unique["yhat"], ["shop_id", "product_id"], keys),
        unique.pivot_table(index=["shop_id", "product_id"], columns="date", values="yhat",
                           aggfunc="sum").reindex(pd.MultiIndex.from_frame(keys)).to_numpy())


def test_the_purchase_plan_without_the_daily_projection_is_the_same_plan():
    n = 6
    report = pd.DataFrame({
        "as_of": pd.Timestamp("2024-06-30"), "shop_id": "S1",
        "product_id": [f"P{i}" for i in range(n)], "category": "Toys",
        "lead_time_days": [3.0, 5.0, 7.0, 2.0, 4.0, 6.0], "review_period_days": 7.0,
        "on_hand": [0.0, 5.0, 40.0, 1.0, 12.0, 3.0], "on_order": [0.0, 10.0, 0.0, 0.0, 4.0, 0.0],
        "expected_arrival": pd.to_datetime([None, "2024-07-03", None, None, "2024-07-02", None]),
        "mean_daily_demand": [2.0, 1.5, 3.0, 0.5, 2.5, 1.0],
        "reorder_point": [20.0, 12.0, 35.0, 4.0, 22.0, 9.0],
        "order_up_to": [40.0, 30.0, 60.0, 10.0, 45.0, 20.0],
        "recommended_qty": [40.0, 0.0, 0.0, 10.0, 0.0, 18.0], "unit_cost": 2.0})
    supply = pd.DataFrame({"product_id": report["product_id"], "pack_size": [1.0, 6.0] * 3,
                           "min_order_qty": 2.0})
    forecast = pd.DataFrame([("S1", f"P{i}", pd.Timestamp("2024-07-01") + pd.Timedelta(days=d),
                              1.0 + i + d % 3) for i in range(4) for d in range(21)],
                            columns=["shop_id", "product_id", "date", "yhat"]).assign(level="shop_product")
    plan, projection = policy.project_stock(report, supply, forecast, 21)
    orders_only, none = policy.project_stock(report, supply, forecast, 21, projection=False)
    assert none is None and len(projection) == 22 * n
    assert set(plan["kind"]) == {"now", "planned"}
    pd.testing.assert_frame_equal(orders_only, plan, check_exact=True)
