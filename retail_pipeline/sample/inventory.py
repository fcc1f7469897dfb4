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
    data.products = supply_columns(rng, products)
    sales = data.transactions
    dates = pd.to_datetime(sales["transaction_date"]).dt.normalize()
    last = dates.max()
    stock, understocked = stock_levels(rng, products, *recent_units(sales, dates, last), last)
    data.extra["stock_levels"] = stock
    data.truth["understocked_pairs"] = understocked


def supply_columns(rng: np.random.Generator, products: pd.DataFrame) -> pd.DataFrame:
    """The products with their supply attributes (see the module docstring)."""
    n = len(products)
    lead = pd.to_numeric(products["lead_time_days"]).to_numpy("float64")
    service = np.where(rng.random(n) < 0.1, rng.choice([0.85, 0.9, 0.97, 0.99], n), np.nan)
    return products.assign(
        lead_time_std_days=np.round(lead * rng.uniform(0.10, 0.35, n), 1),
        order_cost=np.round(rng.uniform(5, 40, n), 2),
        holding_cost_rate=np.round(rng.uniform(0.15, 0.35, n), 2),
        min_order_qty=rng.choice([1, 1, 2, 5, 10], n),
        pack_size=rng.choice([1, 1, 1, 2, 6, 12], n),
        service_level=pd.array([None if np.isnan(s) else s for s in service], dtype="Float64"),
    )


def recent_units(sales: pd.DataFrame, dates: pd.Series, last: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Units sold per (shop_id, product_id) in the 90 and in the 28 days up to ``last``
    (sums: the chunked sample adds them up chunk by chunk)."""
    keys = ["shop_id", "product_id"]
    return (sales[dates > last - pd.Timedelta(days=90)].groupby(keys)["quantity"].sum(),
            sales[dates > last - pd.Timedelta(days=28)].groupby(keys)["quantity"].sum())


def stock_levels(rng: np.random.Generator, products: pd.DataFrame, units90: pd.Series, units28: pd.Series,
                 last: pd.Timestamp) -> tuple[pd.DataFrame, set]:
    """Stock snapshots for every pair that sold in the last 90 days, and the under-stocked pairs."""
    pairs = (units90.reset_index()
             .sort_values(["shop_id", "product_id"], kind="stable").reset_index(drop=True))
    d = (pairs.set_index(["shop_id", "product_id"]).index
         .map(units28 / 28).fillna(0.0))
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
    stock = pd.concat([older, current], ignore_index=True).astype({"on_order": "Int64"})
    return stock, set(zip(pairs["shop_id"][understocked], pairs["product_id"][understocked], strict=True))
