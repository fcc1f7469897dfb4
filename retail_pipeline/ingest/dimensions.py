"""Dimension rows (products, customers) derived from the sale lines of the same export.

Invoice-line, Shopify and mapped exports carry product names, prices and customer
countries on every line, but no products or customers file. These functions build those
tables from the lines so that category and customer analytics are not empty:

* products: one row per product id; ``product_name`` = the most common non-empty name of
  its lines (ties: the first seen), ``category`` = the most common category when the export
  has one (else empty), ``standard_price`` = the most common positive unit price of its
  sale lines (the list price discounts are measured against); a product with no positive
  price on any line gets no row (it stays an unknown product, counted by the join report);
* customers: one row per customer id; ``customer_name`` = the name column when the export
  has one, else the id; ``city`` and ``country`` from the customer's most recent line.

Values stay text: the result is validated by the contract like any other upload part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.ingest.formats import EntityFrame


def _mode_per_key(keys: pd.Series, values: pd.Series) -> pd.Series:
    """The most common value per key (first seen among equals), empty values ignored."""
    frame = pd.DataFrame({"k": keys.to_numpy(), "v": values.to_numpy()})
    frame = frame[frame["v"].notna() & (frame["v"].astype("str").str.strip() != "")]
    if frame.empty:
        return pd.Series(dtype="str")
    counts = frame.groupby(["k", "v"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values("n", ascending=False, kind="stable")
    return counts.drop_duplicates("k").set_index("k")["v"]


def products_from_lines(lines: pd.DataFrame, rows: np.ndarray, *, name: str | None,
                        category: str | None = None, quantity: str = "quantity",
                        price: str = "actual_price", product: str = "product_id") -> EntityFrame | None:
    """Products seen on ``lines`` (text columns in the contract's transaction names)."""
    ids = lines[product].astype("str").str.strip()
    sold = pd.to_numeric(lines[quantity], errors="coerce") > 0
    unit = pd.to_numeric(lines[price], errors="coerce")
    priced = sold & (unit > 0)
    standard = _mode_per_key(ids[priced], unit[priced].map(lambda v: f"{v:.10g}"))
    if standard.empty:
        return None
    keep = ids.isin(standard.index) & ids.ne("")
    first = pd.DataFrame({"k": ids[keep], "row": rows[keep.to_numpy()]}).drop_duplicates("k")
    names = _mode_per_key(ids, lines[name]) if name else pd.Series(dtype="str")
    cats = _mode_per_key(ids, lines[category]) if category else pd.Series(dtype="str")
    out = pd.DataFrame({
        "product_id": first["k"].to_numpy(),
        "product_name": first["k"].map(names).fillna(first["k"]).to_numpy(),
        "category": first["k"].map(cats).fillna("").to_numpy(),
        "brand": "",
        "standard_price": first["k"].map(standard).to_numpy(),
    }, dtype="str")
    return EntityFrame("products", out, first["row"].to_numpy(dtype=np.int64))


def customers_from_lines(lines: pd.DataFrame, rows: np.ndarray, *, customer: str = "customer_id",
                         name: str | None = None, city: str | None = None,
                         country: str | None = None) -> EntityFrame | None:
    """Customers seen on ``lines``: their latest line (file order) gives city and country."""
    ids = lines[customer].astype("str").str.strip()
    known = lines[customer].notna() & ids.ne("") & ids.ne("nan")
    if not known.any():
        return None
    picked = pd.DataFrame({"k": ids[known].to_numpy(), "row": rows[known.to_numpy()],
                           "i": np.flatnonzero(known.to_numpy())}).drop_duplicates("k", keep="last")
    at = picked["i"].to_numpy()

    def column(source: str | None) -> np.ndarray:
        if not source:
            return np.full(len(picked), "", dtype=object)
        return lines[source].iloc[at].fillna("").astype("str").to_numpy()

    out = pd.DataFrame({
        "customer_id": picked["k"].to_numpy(),
        "customer_name": column(name) if name else picked["k"].to_numpy(),
        "gender": "", "age": "",
        "city": column(city),
        "preferred_categories": "", "avg_monthly_spending": "", "visits_per_month": "",
    }, dtype="str")
    if country:
        out["country"] = column(country)
    order = np.argsort(picked["row"].to_numpy(), kind="stable")
    return EntityFrame("customers", out.iloc[order].reset_index(drop=True),
                       picked["row"].to_numpy(dtype=np.int64)[order])
