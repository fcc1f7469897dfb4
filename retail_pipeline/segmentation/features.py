"""One row per customer: behaviour from net transactions, plus the customer's demographics.

Input is ``sales_features`` (every sale line joined to its customer, product and shop) and
the customers table. Each line's type comes from ``line_type`` (``sales.features``: given,
else ``sale`` for quantity > 0 and ``return`` for < 0). A ``return`` or ``cancellation``
line is netted out of the spend (``monetary`` is net spend) and counted in ``return_rate``
(returned value / gross value). A ``void`` line (an order that never became a sale) and a
line the sales features do not count (``counted`` False, e.g. price 0) count nowhere: not
as a purchase day, not in any spend or unit.

Definitions (``as_of`` is the day after the last sale in the data unless given):

- ``frequency``: distinct days with a purchase (a positive line); ``recency_days``: days
  from the last purchase day to ``as_of``; ``tenure_days``: days from the first purchase
  day to ``as_of``.
- ``gross_spend``: value of purchase lines; ``returned_spend``: value of return lines;
  ``monetary`` = gross - returned; ``avg_basket`` = monetary / frequency; ``units``: net units.
- ``share_<category>``: the customer's share of gross spend in each of the
  ``top_categories`` best-selling categories, ``share_other`` for the rest.
- ``favourite_shop``, ``favourite_shop_city``: where the customer spent most (ties: lowest id).
- demographics from the customers table: ``gender``, ``age``, ``city``,
  ``preferred_categories``, ``avg_monthly_spending``, ``visits_per_month``, and any
  ``extra_columns``.

Only customers with at least one purchase line get a row: RFM, clusters and lifetime value
are undefined for someone who never bought. Walk-in sales (no customer) are left out.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from retail_pipeline.contract import ContractError, Problem
from retail_pipeline.sales.features import SALE, VOID, resolve_line_types

DEMOGRAPHICS = ("gender", "age", "city", "preferred_categories", "avg_monthly_spending",
                "visits_per_month")
REQUIRED_SALES_COLUMNS = ("customer_id", "transaction_date", "quantity", "total_amount",
                          "shop_id")


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_") or "blank"


def default_as_of(sales: pd.DataFrame) -> pd.Timestamp:
    """The day after the last sale: recency is counted up to the end of the data."""
    return pd.Timestamp(sales["transaction_date"].max()).normalize() + pd.Timedelta(days=1)


def _require(frame: pd.DataFrame, columns, file: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError([Problem(file=file, row=None, column=c, value=None,
                                     rule="required column is missing") for c in missing])


def customer_features(sales: pd.DataFrame, customers: pd.DataFrame, *,
                      as_of: pd.Timestamp | None = None, top_categories: int = 5,
                      extra_columns=()) -> pd.DataFrame:
    """One row per customer who bought at least once (see the module docstring)."""
    _require(sales, REQUIRED_SALES_COLUMNS, "sales_features")
    _require(customers, ("customer_id", *extra_columns), "customers")
    lines = sales[sales["customer_id"].notna()]
    if as_of is None:
        as_of = default_as_of(sales) if len(sales) else pd.Timestamp("today").normalize()
    lines = lines[lines["transaction_date"] < as_of]
    lines = lines[counted_lines(lines)]
    day = lines["transaction_date"].dt.normalize()
    amount = lines["total_amount"].astype("float64")
    bought = (resolve_line_types(lines) == SALE).to_numpy()
    frame = pd.DataFrame({
        "customer_id": lines["customer_id"].astype("str").to_numpy(),
        "day": day.to_numpy(),
        "gross": np.where(bought, amount, 0.0),
        "returned": np.where(bought, 0.0, -amount),
        "units": lines["quantity"].astype("float64").to_numpy(),
        "bought_units": np.where(bought, lines["quantity"].astype("float64"), 0.0),
        "returned_units": np.where(bought, 0.0, -lines["quantity"].astype("float64")),
    })
    purchases = frame[bought]
    per = purchases.groupby("customer_id", sort=True).agg(
        first_purchase=("day", "min"), last_purchase=("day", "max"), frequency=("day", "nunique"))
    totals = frame.groupby("customer_id", sort=True)[["gross", "returned", "units"]].sum()
    out = per.join(totals, how="left")
    out["recency_days"] = (as_of - out["last_purchase"]).dt.days.astype("int64")
    out["tenure_days"] = (as_of - out["first_purchase"]).dt.days.astype("int64")
    out["frequency"] = out["frequency"].astype("int64")
    out["gross_spend"] = out.pop("gross")
    out["returned_spend"] = out.pop("returned")
    out["monetary"] = out["gross_spend"] - out["returned_spend"]
    out["avg_basket"] = out["monetary"] / out["frequency"]
    out["return_rate"] = np.where(out["gross_spend"] > 0,
                                  out["returned_spend"] / out["gross_spend"].where(
                                      out["gross_spend"] > 0), 0.0)
    out = out.join(_category_shares(lines, bought, top_categories))
    out = out.join(_favourite_shop(lines[bought]))
    out = out.reset_index()
    demo = [c for c in (*DEMOGRAPHICS, *extra_columns) if c in customers.columns]
    dims = customers[["customer_id", *dict.fromkeys(demo)]].copy()
    dims["customer_id"] = dims["customer_id"].astype("str")
    out = out.merge(dims, on="customer_id", how="left", validate="one_to_one")
    for column in DEMOGRAPHICS:  # a customer table without a column: keep the schema stable
        if column not in out.columns:
            out[column] = np.nan
    out["age"] = pd.to_numeric(out["age"], errors="coerce").astype("float64")
    for column in ("avg_monthly_spending", "visits_per_month"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    for column in ("gender", "city", "preferred_categories"):
        out[column] = out[column].astype("str").where(out[column].notna(), None)
    out["as_of"] = as_of
    return out.sort_values("customer_id", ignore_index=True)


def counted_lines(lines: pd.DataFrame) -> np.ndarray:
    """Lines that count in a total: not ``void`` and, when the sales features say, ``counted``."""
    keep = (resolve_line_types(lines) != VOID).to_numpy()
    if "counted" in lines.columns:
        keep = keep & lines["counted"].fillna(False).astype("bool").to_numpy()
    return keep


def _category_shares(lines: pd.DataFrame, bought: np.ndarray, top: int) -> pd.DataFrame:
    if "category" not in lines.columns or top <= 0:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    purchases = lines[bought]
    category = purchases["category"].astype("str").where(purchases["category"].notna(), "unknown")
    spend = purchases["total_amount"].astype("float64")
    ranking = spend.groupby(category).sum().sort_values(ascending=False, kind="stable")
    keep = list(ranking.index[:top])
    label = category.where(category.isin(keep), "other")
    table = (spend.groupby([purchases["customer_id"].astype("str"), label]).sum()
             .unstack(fill_value=0.0))
    columns = [*keep, "other"]
    table = table.reindex(columns=columns, fill_value=0.0)
    total = table.sum(axis=1)
    shares = table.div(total.where(total > 0), axis=0).fillna(0.0)
    shares.columns = [f"share_{slug(c)}" for c in columns]
    shares.index.name = "customer_id"
    return shares


def _favourite_shop(purchases: pd.DataFrame) -> pd.DataFrame:
    spend = (purchases.assign(customer_id=purchases["customer_id"].astype("str"),
                              shop_id=purchases["shop_id"].astype("str"))
             .groupby(["customer_id", "shop_id"])["total_amount"].sum().reset_index())
    spend = spend.sort_values(["customer_id", "total_amount", "shop_id"],
                              ascending=[True, False, True])
    best = spend.drop_duplicates("customer_id").set_index("customer_id")
    out = pd.DataFrame({"favourite_shop": best["shop_id"]})
    if "shop_city" in purchases.columns:
        city = (purchases.assign(shop_id=purchases["shop_id"].astype("str"))
                .drop_duplicates("shop_id").set_index("shop_id")["shop_city"])
        out["favourite_shop_city"] = out["favourite_shop"].map(city).astype("str")
    else:
        out["favourite_shop_city"] = None
    return out
