"""Joining transactions to their customer, product and shop, and the per-sale features.

Left joins keep every sale: a sale whose customer, product or shop is not (yet) known is
kept with empty attributes and counted, because dimension files often arrive later than
sales. Each dimension must have unique keys (the contract guarantees it), and the merge
asserts many-to-one so a join can never multiply rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Dimension columns whose plain name would be ambiguous after the join.
_RENAMES = {
    "customers": {"city": "customer_city"},
    "shops": {"city": "shop_city"},
    "products": {},
}


@dataclass(frozen=True)
class JoinReport:
    rows: int
    walk_in_sales: int  # no customer_id at all
    unknown_customers: int  # a customer_id that the customer table does not have
    unknown_products: int
    unknown_shops: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _attach(left: pd.DataFrame, dim: pd.DataFrame, key: str, entity: str) -> tuple[pd.DataFrame, int]:
    dim = dim.rename(columns=_RENAMES[entity])
    clashes = {c: f"{entity[:-1]}_{c}" for c in dim.columns if c != key and c in left.columns}
    dim = dim.rename(columns=clashes)
    joined = left.merge(dim, on=key, how="left", validate="many_to_one", indicator=True)
    unknown = int(((joined["_merge"] == "left_only") & joined[key].notna()).sum())
    return joined.drop(columns="_merge"), unknown


def build_sales_features(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    shops: pd.DataFrame,
) -> tuple[pd.DataFrame, JoinReport]:
    """One row per transaction with its customer, product and shop attributes and features."""
    out, unknown_customers = _attach(transactions, customers, "customer_id", "customers")
    out, unknown_products = _attach(out, products, "product_id", "products")
    out, unknown_shops = _attach(out, shops, "shop_id", "shops")
    assert len(out) == len(transactions), "a dimension join multiplied rows"
    quantity = out["quantity"].astype("float64")
    price = out["actual_price"].astype("float64")
    standard = out["standard_price"].astype("float64")
    date = out["transaction_date"]
    out["total_amount"] = quantity * price
    out["price_difference"] = price - standard
    out["price_ratio"] = np.where(standard > 0, price / standard, np.nan)
    out["month"] = date.dt.month.astype("int64")
    out["day_of_week"] = date.dt.weekday.astype("int64")  # Monday=0 .. Sunday=6
    out["is_weekend"] = out["day_of_week"] >= 5
    report = JoinReport(
        rows=len(out),
        walk_in_sales=int(out["customer_id"].isna().sum()),
        unknown_customers=unknown_customers,
        unknown_products=unknown_products,
        unknown_shops=unknown_shops,
    )
    return out, report


DAILY_SALES_COLUMNS = ["date", "shop_id", "product_id", "quantity", "revenue",
                       "transaction_count", "source"]


def build_daily_sales(transactions: pd.DataFrame, daily_totals: pd.DataFrame | None = None) -> pd.DataFrame:
    """The date x shop x product panel that forecasting and inventory use.

    Sales lines are summed per day; uploaded daily totals (the ``date,store,item,sales``
    format) are added as they are. Where both describe the same day, shop and product, the
    uploaded total wins: it is the shop's own count of the whole day, while transaction
    exports are often partial. Revenue is unknown (NaN) for rows that come only from totals.
    """
    lines = transactions.assign(
        date=transactions["transaction_date"].dt.normalize(),
        revenue=transactions["quantity"].astype("float64") * transactions["actual_price"],
    )
    from_lines = (
        lines.groupby(["date", "shop_id", "product_id"], observed=True, sort=False)
        .agg(quantity=("quantity", "sum"), revenue=("revenue", "sum"),
             transaction_count=("transaction_id", "size"))
        .reset_index()
    )
    from_lines["quantity"] = from_lines["quantity"].astype("float64")
    from_lines["source"] = "transactions"
    parts = [from_lines]
    if daily_totals is not None and len(daily_totals):
        totals = pd.DataFrame({
            "date": daily_totals["date"].dt.normalize(),
            "shop_id": daily_totals["shop_id"],
            "product_id": daily_totals["product_id"],
            "quantity": daily_totals["quantity"].astype("float64"),
            "revenue": np.nan,
            "transaction_count": pd.array([pd.NA] * len(daily_totals), dtype="Int64"),
            "source": "daily_totals",
        })
        keys = ["date", "shop_id", "product_id"]
        covered = from_lines[keys].merge(totals[keys], on=keys, how="left", indicator=True)
        parts = [from_lines[(covered["_merge"] == "left_only").to_numpy()], totals]
    out = pd.concat(parts, ignore_index=True)
    out["transaction_count"] = out["transaction_count"].astype("Int64")
    out["date"] = out["date"].astype("datetime64[ns]")
    out["shop_id"] = out["shop_id"].astype("str")
    out["product_id"] = out["product_id"].astype("str")
    out["source"] = out["source"].astype("str")
    return out.sort_values(["date", "shop_id", "product_id"], ignore_index=True)[DAILY_SALES_COLUMNS]
