"""The inventory part of the sample: supply attributes and stock snapshots.

Supply attributes are extra product columns (the products table already carries
``unit_cost`` and ``lead_time_days``): ``lead_time_std_days`` (10-35% of the lead time),
``order_cost``, ``holding_cost_rate``, ``min_order_qty``, ``pack_size`` and, for one
product in ten, its own ``service_level``.

Stock snapshots (``stock_levels``) are consistent with the sales: for every shop x
product that sold in the last 90 days, stock on hand is the pair's mean daily units over
the last 28 days times a number of days of cover. A third of the pairs are planted
under-stocked (cover shorter than the lead time, no open order), so reorders are due;
``data.truth["understocked_pairs"]`` lists them. One pair in five has an open order with
an expected arrival, and one in four an older snapshot a week earlier (the newest wins).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.sample.size import SampleSize


def add_inventory(rng: np.random.Generator, size: SampleSize, data) -> None:
    products = data.products
    n = len(products)
    lead = pd.to_numeric(products["lead_time_days"]).to_numpy("float64")
    service = np.where(rng.random(n) < 0.1, rng.choice([0.85, 0.9, 0.97, 0.99], n), np.nan)
    data.products = products.assign(
        lead_time_std_days=np.round(lead * rng.uniform(0.10, 0.35, n), 1),
        order_cost=np.round(rng.uniform(5, 40, n), 2),
        holding_cost_rate=np.round(rng.uniform(0.15, 0.35, n), 2),
        min_order_qty=rng.choice([1, 1, 2, 5, 10], n),
        pack_size=rng.choice([1, 1, 1, 2, 6, 12], n),
        service_level=pd.array([None if np.isnan(s) else s for s in service], dtype="Float64"),
    )
    sales = data.transactions
    dates = pd.to_datetime(sales["transaction_date"]).dt.normalize()
    last = dates.max()
    recent = sales[dates > last - pd.Timedelta(days=90)]
    pairs = (recent.groupby(["shop_id", "product_id"])["quantity"].sum().reset_index()
             .sort_values(["shop_id", "product_id"], kind="stable").reset_index(drop=True))
    last28 = sales[dates > last - pd.Timedelta(days=28)]
    d = (pairs.set_index(["shop_id", "product_id"]).index
         .map(last28.groupby(["shop_id", "product_id"])["quantity"].sum() / 28).fillna(0.0))
    d = np.maximum(np.asarray(d, "float64"), pairs["quantity"].to_numpy("float64") / 90)
    pair_lead = pairs["product_id"].map(products.set_index("product_id")["lead_time_days"]).to_numpy("float64")
    m = len(pairs)
    understocked = rng.random(m) < 1 / 3
    cover = np.where(understocked, rng.uniform(0, 1, m) * pair_lead,
                     pair_lead + 7 + rng.uniform(7, 45, m))
    on_hand = np.floor(d * cover + np.where(understocked, 0, 2)).astype(int)
    has_order = ~understocked & (rng.random(m) < 0.3)
    on_order = np.where(has_order, np.ceil(d * 7 + 1), np.nan)
    arrival = last + pd.to_timedelta(np.where(has_order, rng.integers(1, 8, m), 0), unit="D")
    current = pd.DataFrame({
        "date": last.strftime("%Y-%m-%d"), "shop_id": pairs["shop_id"],
        "product_id": pairs["product_id"], "on_hand": on_hand,
        "on_order": pd.array([None if np.isnan(v) else int(v) for v in on_order], dtype="Int64"),
        "expected_arrival": np.where(has_order, arrival.strftime("%Y-%m-%d"), None),
    })
    older = current[rng.random(m) < 0.25].assign(
        date=(last - pd.Timedelta(days=7)).strftime("%Y-%m-%d"),
        on_hand=lambda f: f["on_hand"] + np.ceil(d[f.index] * 7).astype(int),
        on_order=pd.NA, expected_arrival=None)
    data.extra["stock_levels"] = (pd.concat([older, current], ignore_index=True)
                                  .astype({"on_order": "Int64"}))
    data.truth["understocked_pairs"] = set(zip(pairs["shop_id"][understocked],
                                               pairs["product_id"][understocked], strict=True))
