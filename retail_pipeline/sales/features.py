"""Joining transactions to their customer, product and shop, and the per-line features.

Returns and cancellations are data: every line is kept, and each one's gross, returned
and net units and revenue are worked out once here (``line_measures``), so that every
total downstream (daily sales, KPIs) nets returns against sales the same way.

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
    sale_lines: int = 0  # counted lines by resolved type (see ``line_measures``)
    return_lines: int = 0
    cancellation_lines: int = 0
    void_lines: int = 0  # kept, counted in no total
    zero_price_lines: int = 0  # price 0 (stock adjustments, giveaways): kept, counted in no total

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _attach(left: pd.DataFrame, dim: pd.DataFrame, key: str, entity: str) -> tuple[pd.DataFrame, int]:
    dim = dim.rename(columns=_RENAMES[entity])
    clashes = {c: f"{entity[:-1]}_{c}" for c in dim.columns if c != key and c in left.columns}
    dim = dim.rename(columns=clashes)
    joined = left.merge(dim, on=key, how="left", validate="many_to_one", indicator=True)
    unknown = int(((joined["_merge"] == "left_only") & joined[key].notna()).sum())
    return joined.drop(columns="_merge"), unknown


# The resolved line types (see the transactions entity of the contract).
SALE, RETURN, CANCELLATION, VOID = "sale", "return", "cancellation", "void"
RETURN_TYPES = (RETURN, CANCELLATION)
UNCATEGORISED = "uncategorised"
UNKNOWN_PRODUCT = "(unknown product)"


def resolve_line_types(transactions: pd.DataFrame) -> pd.Series:
    """Each line's type: the ``line_type`` given, else ``sale`` (quantity > 0) or ``return`` (< 0).

    A frame without a ``line_type`` column (an export that does not say) resolves every line
    from the sign of its quantity.
    """
    quantity = transactions["quantity"].astype("float64").to_numpy()
    by_sign = pd.Series(np.where(quantity < 0, RETURN, SALE), index=transactions.index, dtype="str")
    if "line_type" not in transactions:
        return by_sign
    given = transactions["line_type"].astype("str").str.strip().str.lower()
    given = given.where(transactions["line_type"].notna() & given.ne(""))
    return given.fillna(by_sign).astype("str")


def line_measures(transactions: pd.DataFrame) -> pd.DataFrame:
    """Per line: resolved type, flags, and gross / returned / net units and revenue.

    - ``counted``: the line counts in the totals. A ``void`` line (an order that never became
      a sale) does not, and neither does a line at price 0: a stock adjustment or giveaway
      moves units but sells nothing (the ingest checks flag such lines), so counting its units
      would make units and revenue disagree. ``zero_price`` marks those lines.
    - ``gross_*``: what a counted ``sale`` line sold; ``returned_*``: what a counted ``return``
      or ``cancellation`` line took back, as a positive number; ``net_*`` = gross - returned.
    - ``total_amount``: the line's net revenue (quantity x price; 0 when not counted).
    """
    line_type = resolve_line_types(transactions)
    return measures_frame(transactions, line_type.to_numpy(), line_type.isin(RETURN_TYPES).to_numpy(),
                          (line_type != VOID).to_numpy(), (line_type == SALE).to_numpy())


def measures_frame(transactions: pd.DataFrame, line_type, is_return: np.ndarray, not_void: np.ndarray,
                   sale_type: np.ndarray) -> pd.DataFrame:
    """The measures of ``line_measures`` from each line's resolved type and its flags (both
    engines resolve the types their own way and share this arithmetic)."""
    quantity = transactions["quantity"].astype("float64").to_numpy()
    price = transactions["actual_price"].astype("float64").to_numpy()
    zero_price = price == 0
    counted = not_void & ~zero_price
    sale = counted & sale_type
    returned = counted & is_return
    gross_quantity = np.where(sale, quantity, 0.0)
    returned_quantity = np.where(returned, -quantity, 0.0)
    gross_amount = gross_quantity * price
    returned_amount = returned_quantity * price
    return pd.DataFrame({
        "line_type": line_type,
        "is_return": is_return,
        "counted": counted,
        "zero_price": zero_price,
        "gross_quantity": gross_quantity,
        "returned_quantity": returned_quantity,
        "net_quantity": gross_quantity - returned_quantity,
        "gross_amount": gross_amount,
        "returned_amount": returned_amount,
        "total_amount": gross_amount - returned_amount,
    }, index=transactions.index)


def category_label(features: pd.DataFrame) -> pd.Series:
    """Category for tables: ``uncategorised`` when the product has none, ``(unknown product)``
    when the product is not in the products table at all. The reference for
    ``columnar.category_label``, which the KPI tables use (equal series, per distinct value)."""
    category = features["category"].astype("str").str.strip()
    category = category.where(features["category"].notna() & category.ne(""))
    known = features["product_name"].notna() if "product_name" in features else pd.Series(True, features.index)
    # the two labels picked by code: a numpy text array of 10M labels took 1.7 GB more at peak
    fallback = pd.Series([UNCATEGORISED, UNKNOWN_PRODUCT], dtype="str").array.take(np.where(known, 0, 1))
    return category.fillna(pd.Series(fallback, index=features.index))


def use_duckdb(engine: str | None, rows: int) -> bool:
    """Whether a step over ``rows`` input lines runs in DuckDB: ``engine`` is ``pandas``,
    ``duckdb`` or ``auto`` (DuckDB from ``settings.AUTO_DUCKDB_ROWS`` lines on); ``None``
    reads the ``RETAIL_ENGINE`` setting. Both engines give identical frames."""
    from retail_pipeline.platform import settings

    engine = settings.engine() if engine is None else engine
    if engine not in settings.ENGINES:
        raise ValueError(f"engine must be one of {', '.join(settings.ENGINES)}, not {engine!r}")
    return engine == "duckdb" or (engine == "auto" and rows >= settings.AUTO_DUCKDB_ROWS)


def build_sales_features(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    shops: pd.DataFrame,
    engine: str | None = None,
) -> tuple[pd.DataFrame, JoinReport]:
    """One row per transaction line (sales, returns, cancellations and void lines alike) with
    its customer, product and shop attributes, its measures (see ``line_measures``) and features.

    ``engine``: see ``use_duckdb``; the DuckDB path (``retail_pipeline.sales.columnar``)
    returns the same frame and report.
    """
    if use_duckdb(engine, len(transactions)):
        from retail_pipeline.sales import columnar

        return columnar.build_sales_features(transactions, customers, products, shops)
    out, unknown_customers = _attach(transactions, customers, "customer_id", "customers")
    out, unknown_products = _attach(out, products, "product_id", "products")
    out, unknown_shops = _attach(out, shops, "shop_id", "shops")
    assert len(out) == len(transactions), "a dimension join multiplied rows"
    return with_line_features(out, unknown_customers, unknown_products, unknown_shops)


def with_line_features(out: pd.DataFrame, unknown_customers: int, unknown_products: int,
                       unknown_shops: int, measure=line_measures) -> tuple[pd.DataFrame, JoinReport]:
    """The joined lines with their measures (``measure``: ``line_measures`` or the columnar
    engine's equal, faster one) and features added, and the join report (shared by both
    engines, so the per-line features exist once)."""
    measures = measure(out)
    for column in measures.columns:
        out[column] = measures[column].array
    price = out["actual_price"].astype("float64")
    standard = out["standard_price"].astype("float64")
    date = out["transaction_date"]
    out["price_difference"] = price - standard
    out["price_ratio"] = np.where(standard > 0, price / standard, np.nan)
    out["month"] = date.dt.month.astype("int64")
    out["day_of_week"] = date.dt.day_of_week.astype("int64")  # Monday=0 .. Sunday=6
    out["is_weekend"] = out["day_of_week"] >= 5
    report = JoinReport(
        rows=len(out),
        walk_in_sales=int(out["customer_id"].isna().sum()),
        unknown_customers=unknown_customers,
        unknown_products=unknown_products,
        unknown_shops=unknown_shops,
        sale_lines=int((out["counted"] & (out["line_type"] == SALE)).sum()),
        return_lines=int((out["counted"] & (out["line_type"] == RETURN)).sum()),
        cancellation_lines=int((out["counted"] & (out["line_type"] == CANCELLATION)).sum()),
        void_lines=int((out["line_type"] == VOID).sum()),
        zero_price_lines=int((out["zero_price"] & (out["line_type"] != VOID)).sum()),
    )
    return out, report


DAILY_SALES_INPUT_COLUMNS = ["transaction_date", "shop_id", "product_id", "quantity", "actual_price",
                             "line_type"]
"""The transactions columns ``build_daily_sales`` reads (the asset loads only these)."""

DAILY_SALES_COLUMNS = ["date", "shop_id", "product_id", "quantity", "revenue", "gross_quantity",
                       "returned_quantity", "gross_revenue", "returned_revenue", "transaction_count",
                       "source"]


def build_daily_sales(transactions: pd.DataFrame, daily_totals: pd.DataFrame | None = None,
                      engine: str | None = None) -> pd.DataFrame:
    """The date x shop x product panel that forecasting and inventory use.

    ``quantity`` and ``revenue`` are NET: units and revenue sold minus those returned or
    cancelled that day (a return is booked on the day it came back, so a day with only
    returns has a negative net); ``gross_*`` and ``returned_*`` (positive) are the two parts.
    Lines that count in no total (``void``, price 0; see ``line_measures``) are left out;
    ``transaction_count`` counts the sale and return lines of the row.

    Sales lines are summed per day; uploaded daily totals (the ``date,store,item,sales``
    format) are added as they are, as gross units with nothing returned. Where both describe
    the same day, shop and product, the uploaded total wins: it is the shop's own count of
    the whole day, while transaction exports are often partial. Revenue is unknown (NaN) for
    rows that come only from totals.

    ``engine``: see ``use_duckdb``; the columnar engine (``columnar.daily_line_sums``) gives
    the same panel with far less sorting and hashing at 10M lines.
    """
    if use_duckdb(engine, len(transactions)):
        from retail_pipeline.sales import columnar

        return with_daily_totals(columnar.daily_line_sums(transactions), daily_totals, in_key_order=True)
    return with_daily_totals(daily_line_sums(transactions), daily_totals)


DAILY_SUMS = ["quantity", "revenue", "gross_quantity", "returned_quantity", "gross_revenue",
              "returned_revenue"]
"""The summed measures of ``daily_sales``, in the order of its columns."""


def daily_line_sums(transactions: pd.DataFrame) -> pd.DataFrame:
    """The counted lines summed per date, shop and product (``source`` = transactions), in no
    particular row order: the reference for ``columnar.daily_line_sums``."""
    measures = line_measures(transactions)
    keep = measures["counted"].to_numpy()
    lines = pd.DataFrame({
        "date": transactions["transaction_date"].dt.normalize().to_numpy()[keep],
        "shop_id": transactions["shop_id"].to_numpy()[keep],
        "product_id": transactions["product_id"].to_numpy()[keep],
        "quantity": measures["net_quantity"].to_numpy()[keep],
        "revenue": measures["total_amount"].to_numpy()[keep],
        "gross_quantity": measures["gross_quantity"].to_numpy()[keep],
        "returned_quantity": measures["returned_quantity"].to_numpy()[keep],
        "gross_revenue": measures["gross_amount"].to_numpy()[keep],
        "returned_revenue": measures["returned_amount"].to_numpy()[keep],
    })
    grouped = lines.groupby(["date", "shop_id", "product_id"], observed=True, sort=False)
    from_lines = grouped[DAILY_SUMS].sum()
    from_lines["transaction_count"] = grouped.size()
    from_lines = from_lines.reset_index()
    from_lines["source"] = "transactions"
    return from_lines


def with_daily_totals(from_lines: pd.DataFrame, daily_totals: pd.DataFrame | None,
                      in_key_order: bool = False) -> pd.DataFrame:
    """The panel: the summed lines (``daily_line_sums``) and the uploaded totals, which win
    for their day; typed and ordered by date, shop and product (``in_key_order``: the lines
    already are, and a panel without totals needs no sort)."""
    parts = [from_lines]
    if daily_totals is not None and len(daily_totals):
        units = daily_totals["quantity"].astype("float64").to_numpy()
        totals = pd.DataFrame({
            "date": daily_totals["date"].dt.normalize().to_numpy(),
            "shop_id": daily_totals["shop_id"].to_numpy(),
            "product_id": daily_totals["product_id"].to_numpy(),
            "quantity": units,
            "revenue": np.nan,
            "gross_quantity": units,
            "returned_quantity": 0.0,
            "gross_revenue": np.nan,
            "returned_revenue": 0.0,
            "transaction_count": pd.array([pd.NA] * len(daily_totals), dtype="Int64"),
            "source": "daily_totals",
        })
        keys = ["date", "shop_id", "product_id"]
        covered = from_lines[keys].merge(totals[keys], on=keys, how="left", indicator=True)
        parts = [from_lines[(covered["_merge"] == "left_only").to_numpy()], totals]
    out = from_lines if len(parts) == 1 else pd.concat([p for p in parts if len(p)] or [from_lines],
                                                        ignore_index=True)
    for column in DAILY_SUMS:
        out[column] = out[column].astype("float64")
    out["transaction_count"] = out["transaction_count"].astype("Int64")
    out["date"] = out["date"].astype("datetime64[ns]")
    out["shop_id"] = out["shop_id"].astype("str")
    out["product_id"] = out["product_id"].astype("str")
    out["source"] = out["source"].astype("str")
    if in_key_order and len(parts) == 1:
        return out[DAILY_SALES_COLUMNS]
    return out.sort_values(["date", "shop_id", "product_id"], ignore_index=True)[DAILY_SALES_COLUMNS]
