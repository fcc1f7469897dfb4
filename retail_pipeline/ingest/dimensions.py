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
import pyarrow as pa
import pyarrow.compute as pc

from retail_pipeline.ingest.formats import EntityFrame


def numbers(values: pd.Series) -> np.ndarray:
    """Text numbers as float64, NaN where empty or not a number (``pd.to_numeric`` with
    ``errors="coerce"``, through pyarrow's cast when every value is a plain number)."""
    try:
        text = pa.array(values, from_pandas=True)
        if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
            text = pc.utf8_trim_whitespace(text)
            text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
            return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")


def _mode_per_code(codes: np.ndarray, size: int, values: pd.Series | np.ndarray) -> np.ndarray:
    """The most common value of each code 0..size-1 (first seen among equals; None when a
    code has none); empty or missing values ignored.

    Counted on integer codes with hashing (no per-row Python, no sort of every line): half a
    million lines take a few tens of milliseconds.
    """
    values = pd.Series(values).reset_index(drop=True)
    present = values.notna().to_numpy().copy() & (codes >= 0)
    if not pd.api.types.is_numeric_dtype(values):
        present &= (values.astype("str").str.strip() != "").to_numpy()
    out = np.full(size, None, dtype=object)
    if not present.any():
        return out
    value_codes, distinct = pd.factorize(values[present])
    width = max(len(distinct), 1)
    pair_codes, pairs = pd.factorize(codes[present].astype(np.int64) * width + value_codes)
    counts = np.bincount(pair_codes, minlength=len(pairs))
    key_of, value_of = pairs // width, pairs % width
    order = np.lexsort((np.arange(len(pairs)), -counts, key_of))  # per code: most lines, then first seen
    best = order[np.r_[True, key_of[order][1:] != key_of[order][:-1]]]
    out[key_of[best]] = np.asarray(distinct, dtype=object)[value_of[best]]
    return out


def products_from_lines(lines: pd.DataFrame, rows: np.ndarray, *, name: str | None,
                        category: str | None = None, quantity: str = "quantity",
                        price: str = "actual_price", product: str = "product_id",
                        where: np.ndarray | None = None,
                        parsed: tuple[np.ndarray, np.ndarray] | None = None) -> EntityFrame | None:
    """Products seen on ``lines`` (text columns in the contract's transaction names).

    ``where``: only these lines count (e.g. sale lines), without copying the others out.
    ``parsed``: the lines' quantities and unit prices as numbers, when the caller has them
    already (``numbers`` of the two columns), so they are not parsed twice.
    """
    ids = lines[product].fillna("").astype("str").str.strip()
    codes, products = pd.factorize(ids)  # codes in first-seen order
    codes = np.where(ids.eq("").to_numpy(), -1, codes)
    if where is not None:
        codes = np.where(where, codes, -1)
    sold, unit = parsed if parsed is not None else (numbers(lines[quantity]), numbers(lines[price]))
    with np.errstate(invalid="ignore"):
        priced = (sold > 0) & (unit > 0)
    standard = _mode_per_code(np.where(priced, codes, -1), len(products), unit)  # 2.1 and 2.10: one price
    has_price = np.array([v is not None for v in standard], dtype=bool)
    if not has_price.any():
        return None
    first_at = pd.Series(codes).drop_duplicates()  # the first line of every product
    first_at = first_at[first_at >= 0]
    first_at = first_at[has_price[first_at.to_numpy()]]
    picked, at = first_at.to_numpy(), first_at.index.to_numpy()
    product_ids = np.asarray(products, dtype=object)[picked]

    def mode_of(source: str | None, fallback) -> np.ndarray:
        if not source:
            return np.asarray(fallback, dtype=object)
        found = _mode_per_code(codes, len(products), lines[source])[picked]
        return np.where(pd.isna(found), fallback, found)

    out = pd.DataFrame({
        "product_id": product_ids,
        "product_name": mode_of(name, product_ids),
        "category": mode_of(category, np.full(len(picked), "", dtype=object)),
        "brand": "",
        "standard_price": [f"{v:.10g}" for v in standard[picked]],  # one call per product, not per line
    }, dtype="str")
    return EntityFrame("products", out, np.asarray(rows)[at].astype(np.int64))


def customers_from_lines(lines: pd.DataFrame, rows: np.ndarray, *, customer: str = "customer_id",
                         name: str | None = None, city: str | None = None,
                         country: str | None = None) -> EntityFrame | None:
    """Customers seen on ``lines``: their latest line (file order) gives city and country."""
    ids = lines[customer].fillna("").astype("str").str.strip()
    known = (ids.ne("") & ids.ne("nan")).to_numpy()
    if not known.any():
        return None
    positions = np.flatnonzero(known)
    last = ~ids[known].reset_index(drop=True).duplicated(keep="last").to_numpy()  # hashed, no sort
    at = positions[last]
    picked = pd.DataFrame({"k": ids.iloc[at].to_numpy(), "row": np.asarray(rows)[at]})

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
