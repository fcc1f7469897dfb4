"""Benchmark: the inventory policy replayed on store-item data against the textbook shortcut.

Data: ``../shared/data/store_item_demand/train.csv.gz`` (10 stores x 50 items = 500 daily
series, 2013-01-01..2017-12-31) mapped onto ``daily_sales`` (shop_id = store, product_id =
item, quantity = sales). The data has no prices: every item's list price is 1, so ABC is
by units (A: items making up the first 80% of units, B: to 95%, C: the rest).

Supply (seeded, ``--seed``, default 13): per item a mean lead time drawn uniformly from 3-14
days and a lead-time standard deviation of 10-35% of it; every series' replay draws its
actual lead times from ``round(Normal(L, sigma_L))`` with the same seed. Order cost 0 and
pack/minimum 1: stores are replenished from a distribution centre at every weekly review,
so the benchmark measures the safety-stock sizing, which EOQ cycle stock would blur
(``--order-cost`` sets it otherwise).

Replay (``retail_pipeline.inventory.simulation``): the last 26 weeks, weekly reviews, a
28-day moving average with last year's profile as the forecast and its own rolling errors
over the protection interval as of each review; unmet demand back-ordered (the formula's
assumption; a second set of lines, ``lost_sales=True``, replays the same with lost sales,
untimed). Policies: ``forecast_error`` (ours), ``textbook`` (z x std of
daily sales x sqrt(L)) and ``textbook_equal_service`` (the textbook safety stock scaled per
class until it reaches the service ours achieved: the like-for-like stock comparison).

Wall time: the whole inventory computation after the data and forecast are loaded (supply,
classes, demand over lead time, reorder report, purchase plan and budget, dashboard and
the replay), median of ``--repeat`` runs (default 3). The forecast inputs (sales_forecast,
backtest, leaderboard) come from the pipeline's seasonal-naive champion, computed once and
not timed (that is the forecasting group's cost).

Output: one line per policy and class (``short`` = share of series whose own cycle service
level is more than two binomial standard errors below target), then a stock summary per
sales model and ``inventory_wall_s=...``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retail_pipeline.forecasting.panel import forecast_panel  # noqa: E402
from retail_pipeline.forecasting.pipeline import ForecastSettings, run_forecast  # noqa: E402
from retail_pipeline.inventory import policy  # noqa: E402
from retail_pipeline.inventory.settings import InventorySettings  # noqa: E402
from retail_pipeline.inventory.simulation import policy_simulation  # noqa: E402
from retail_pipeline.inventory.supply import current_positions  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "store_item_demand" / "train.csv.gz"


def load_sales(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, parse_dates=["date"])
    return pd.DataFrame({"date": raw["date"], "shop_id": raw["store"].astype(str),
                         "product_id": raw["item"].astype(str),
                         "quantity": raw["sales"].astype(float), "revenue": np.nan})


def supply_for(items: list[str], seed: int, order_cost: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lead = rng.integers(3, 15, len(items)).astype(float)
    return pd.DataFrame({
        "product_id": items, "category": "store_item", "standard_price": 1.0, "unit_cost": 0.6,
        "lead_time_days": lead, "lead_time_std_days": np.round(lead * rng.uniform(0.10, 0.35, len(items)), 1),
        "order_cost": order_cost, "holding_cost_rate": 0.25, "min_order_qty": 1.0, "pack_size": 1.0,
        "service_level": np.nan})


def stock_snapshot(sales: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A current stock count per series: 0-40 days of its last 28 days' mean demand."""
    rng = np.random.default_rng(seed + 1)
    last = sales["date"].max()
    recent = sales[sales["date"] > last - pd.Timedelta(days=28)]
    mean = recent.groupby(["shop_id", "product_id"])["quantity"].mean().reset_index()
    return pd.DataFrame({"date": last, "shop_id": mean["shop_id"], "product_id": mean["product_id"],
                         "on_hand": np.floor(mean["quantity"] * rng.uniform(0, 40, len(mean))),
                         "on_order": np.nan, "expected_arrival": pd.NaT})


def run_inventory(sales, supply, stock, forecast, settings):
    classes = policy.abc_classes(sales, supply, settings)
    demand = policy.demand_over_lead_time(forecast.forecast, forecast.errors, forecast.leaderboard,
                                          sales, supply, settings)
    report = policy.reorder_report(demand, classes, supply, current_positions(stock))
    horizon = int(forecast.forecast["date"].nunique())
    plan, _ = policy.project_stock(report, supply, forecast.forecast, horizon)
    policy.purchase_budget(plan)
    policy.dashboard_metrics(supply, forecast.forecast, report, supply, "store_item")
    return report, policy_simulation(sales, supply, classes, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--order-cost", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, python {platform.python_version()}")
    sales = load_sales(args.data)
    items = sorted(sales["product_id"].unique(), key=int)
    supply = supply_for(items, args.seed, args.order_cost)
    stock = stock_snapshot(sales, args.seed)
    settings = InventorySettings(simulation_weeks=args.weeks, simulation_seed=args.seed)
    panel = forecast_panel(sales, levels=["shop_product"], max_series_per_level=None)
    forecast = run_forecast(panel, ForecastSettings(horizon=30, models=("seasonal_naive",)))
    walls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        report, sim = run_inventory(sales, supply, stock, forecast, settings)
        walls.append(time.perf_counter() - started)
    lost = policy_simulation(sales, supply, policy.abc_classes(sales, supply, settings),
                             InventorySettings(simulation_weeks=args.weeks,
                                               simulation_seed=args.seed, simulation_lost_sales=True))
    for frame in (sim, lost):
        for r in frame.itertuples():
            print(f"lost_sales={r.lost_sales} policy={r.policy} class={r.abc_class} "
                  f"series={r.series} target={r.target_service_level:.3f} "
                  f"cycle_service={r.cycle_service_level:.4f} fill_rate={r.fill_rate:.4f} "
                  f"average_stock={r.average_stock:.0f} stockout_cycles={r.stockout_cycles}/{r.cycles} "
                  f"short={r.series_short_of_target:.3f} safety_scale={r.safety_scale:.3f}")
    for frame in (sim, lost):
        total = frame.groupby("policy")["average_stock"].sum()
        ours = frame[frame["policy"] == "forecast_error"].set_index("abc_class")
        gap = (ours["cycle_service_level"] - ours["target_service_level"]).abs().max()
        print(f"lost_sales={frame['lost_sales'].iloc[0]} max_class_gap_points={100 * gap:.2f} "
              f"average_stock forecast_error={total['forecast_error']:.0f} "
              f"textbook={total['textbook']:.0f} "
              f"textbook_equal_service={total['textbook_equal_service']:.0f} "
              f"stock_vs_equal_service={total['forecast_error'] / total['textbook_equal_service'] - 1:+.2%}")
    print(f"report_rows={len(report)} reorder_now={int(report['reorder_now'].sum())}")
    print(f"inventory_wall_s={statistics.median(walls):.2f} runs={[round(w, 2) for w in walls]}")


if __name__ == "__main__":
    main()
