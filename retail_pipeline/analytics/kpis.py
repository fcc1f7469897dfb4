"""Business KPIs computed from the joined sales features.

Each function returns a small, tidy table so that it can be written to the warehouse as it
is and read by BI tools without further reshaping.

Returns and cancellations are netted against sales everywhere: ``revenue`` and ``units``
are NET (sold minus taken back, from the per-line measures of
``retail_pipeline.sales.features.line_measures``), and the tables carry the gross and
returned parts beside them. Lines that count in no total (``void`` lines, lines at price 0)
are left out of every sum; ``kpi_summary`` counts them. A return is booked when it happens,
so a month or weekday holds the returns that came back in it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.sales.columnar import category_label
from retail_pipeline.sales.features import SALE, VOID

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_SUMS = {
    "revenue": ("total_amount", "sum"),
    "gross_revenue": ("gross_amount", "sum"),
    "returned_revenue": ("returned_amount", "sum"),
    "units": ("net_quantity", "sum"),
    "gross_units": ("gross_quantity", "sum"),
    "returned_units": ("returned_quantity", "sum"),
    "transactions": ("is_sale", "sum"),
    "return_lines": ("is_return", "sum"),
}


_LINE = ["counted", "line_type", "is_return"]  # which lines count, and as a sale or a return
_MEASURES = [source for source, _ in _SUMS.values() if source not in ("is_sale", "is_return")]
COLUMNS = {
    "kpi_summary": [*_LINE, "zero_price", "customer_id", "product_id", "price_ratio", "gross_amount",
                    "returned_amount", "gross_quantity", "returned_quantity"],
    "top_customers": [*_LINE, "customer_id", "customer_name", "total_amount", "gross_amount",
                      "returned_amount", "net_quantity", "returned_quantity"],
    "best_selling_products": [*_LINE, "product_id", "product_name", "category", "net_quantity",
                              "gross_quantity", "returned_quantity", "total_amount"],
    "revenue_by_category": [*_LINE, "product_name", "category", "price_ratio", *_MEASURES],
    "sales_by_month": [*_LINE, "transaction_date", *_MEASURES],
    "sales_by_weekday": [*_LINE, "transaction_date", *_MEASURES],
}
"""The columns of ``sales_features`` each table reads (its asset loads only these: at 10M lines
the ~46 columns take 5 GB, and the counted lines are copied once more)."""


def _counted(features: pd.DataFrame, table: str) -> pd.DataFrame:
    """The lines that count in the totals, with ``is_sale`` (a counted sale line) added; only
    the columns ``table`` reads are copied."""
    features = features[[c for c in COLUMNS[table] if c in features.columns and c != "zero_price"]]
    counted = features[features["counted"].astype(bool)]
    return counted.assign(is_sale=counted["line_type"].eq(SALE).astype("int64"),
                          is_return=counted["is_return"].astype("int64"))


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


def kpi_summary(features: pd.DataFrame, products: pd.DataFrame, shops: pd.DataFrame) -> pd.DataFrame:
    """Headline numbers as a long table: metric, value, description."""
    lines = _counted(features, "kpi_summary")
    sales = lines.loc[lines["is_sale"] == 1, ["customer_id", "product_id", "price_ratio"]]
    gross, returned = float(lines["gross_amount"].sum()), float(lines["returned_amount"].sum())
    gross_units, returned_units = float(lines["gross_quantity"].sum()), float(lines["returned_quantity"].sum())
    sale_lines = len(sales)
    line_type = features["line_type"]
    rows = [
        ("total_revenue", gross - returned, "net revenue: sales minus returns and cancellations "
                                            "(quantity x actual_price over the counted lines)"),
        ("gross_revenue", gross, "revenue of the sale lines"),
        ("returned_revenue", returned, "revenue taken back by return and cancellation lines (positive)"),
        ("net_revenue", gross - returned, "gross_revenue - returned_revenue"),
        ("transactions", float(sale_lines), "number of sale lines (returns, cancellations and void lines "
                                            "not included)"),
        ("average_transaction_value", _ratio(gross, sale_lines), "gross revenue / number of sale lines"),
        ("units_sold", gross_units - returned_units, "net units: units sold minus units returned"),
        ("gross_units", gross_units, "units on the sale lines"),
        ("returned_units", returned_units, "units taken back by return and cancellation lines (positive)"),
        ("net_units", gross_units - returned_units, "gross_units - returned_units"),
        ("return_rate", _ratio(returned_units, gross_units), "returned_units / gross_units"),
        ("return_rate_revenue", _ratio(returned, gross), "returned_revenue / gross_revenue"),
        ("return_lines", float((lines["line_type"] == "return").sum()), "number of return lines"),
        ("cancellation_lines", float((lines["line_type"] == "cancellation").sum()),
         "number of cancellation lines (whole orders taken back)"),
        ("voided_lines", float((line_type == VOID).sum()),
         "lines of orders that never became a sale: kept, counted in no total"),
        ("zero_price_lines", float((features["zero_price"].astype(bool) & (line_type != VOID)).sum()),
         "lines at price 0 (stock adjustments, giveaways): kept, counted in no total"),
        ("active_customers", float(sales["customer_id"].nunique()), "distinct customers with a sale line"),
        ("total_products", float(len(products)), "products in the catalogue"),
        ("products_sold", float(sales["product_id"].nunique()), "distinct products on a sale line"),
        ("total_shops", float(len(shops)), "shops in the shop table"),
        ("average_discount_pct", float((1 - sales["price_ratio"].mean()) * 100),
         "mean of (1 - actual_price / standard_price) over the sale lines, in percent"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "description"])


def top_customers(features: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers who spent most, net of their returns (walk-ins are left out).

    ``transactions`` counts the customer's sale lines; ``average_transaction_value`` =
    ``total_spent`` / ``transactions``.
    """
    lines = _counted(features, "top_customers")
    grouped = lines.groupby("customer_id", observed=True).agg(  # walk-ins (no id) drop out
        customer_name=("customer_name", "first"),
        total_spent=("total_amount", "sum"),
        gross_spent=("gross_amount", "sum"),
        returned_spent=("returned_amount", "sum"),
        transactions=("is_sale", "sum"),
        return_lines=("is_return", "sum"),
        units=("net_quantity", "sum"),
        returned_units=("returned_quantity", "sum"),
    )
    grouped["average_transaction_value"] = grouped["total_spent"] / grouped["transactions"].where(
        grouped["transactions"] > 0)
    return (grouped.sort_values(["total_spent", "transactions"], ascending=False).head(n)
            .reset_index().assign(rank=lambda f: range(1, len(f) + 1)))


def best_selling_products(features: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` products with the most net units sold (sold minus returned), with revenue."""
    lines = _counted(features, "best_selling_products")
    grouped = lines.assign(category=category_label(lines)).groupby("product_id", observed=True).agg(
        product_name=("product_name", "first"),
        category=("category", "first"),
        **{k: _SUMS[k] for k in ("units", "gross_units", "returned_units", "revenue", "transactions")},
    )
    grouped["return_rate"] = grouped["returned_units"] / grouped["gross_units"].where(grouped["gross_units"] > 0)
    return (grouped.sort_values(["units", "revenue"], ascending=False).head(n)
            .reset_index().assign(rank=lambda f: range(1, len(f) + 1)))


def revenue_by_category(features: pd.DataFrame) -> pd.DataFrame:
    """Net revenue and units, their gross and returned parts, sale lines and revenue share per
    product category (``uncategorised`` for products without one)."""
    lines = _counted(features, "revenue_by_category")
    category = category_label(lines).rename("category")
    sale = (lines["is_sale"] == 1).to_numpy()
    grouped = lines.groupby(category, observed=True).agg(**_SUMS)
    grouped["average_price_ratio"] = lines["price_ratio"][sale].groupby(category[sale]).mean()
    grouped["return_rate"] = grouped["returned_units"] / grouped["gross_units"].where(grouped["gross_units"] > 0)
    total = grouped["revenue"].sum()
    grouped["revenue_share"] = grouped["revenue"] / total if total else np.nan
    return grouped.sort_values("revenue", ascending=False).reset_index()


def _trading_period(lines: pd.DataFrame) -> pd.DatetimeIndex:
    """Every calendar day from the first to the last day with a counted line."""
    days = lines["transaction_date"].dt.normalize()
    if days.empty or days.isna().all():
        return pd.DatetimeIndex([])
    return pd.date_range(days.min(), days.max(), freq="D")


def sales_by_month(features: pd.DataFrame) -> pd.DataFrame:
    """Net revenue and units (with their gross and returned parts) and sale lines per calendar
    month (first day of the month).

    ``days_covered`` counts the month's days inside the data (first to last day with a
    counted line); ``complete`` is True for a month the data covers in full and ``partial``
    its opposite: a partial month (typically the current one, or the first) is not
    comparable with a whole month's total, and the chart draws it apart instead of as a
    collapse in sales.
    """
    lines = _counted(features, "sales_by_month")
    month = lines["transaction_date"].dt.to_period("M").dt.to_timestamp().rename("month_start")
    grouped = lines.groupby(month).agg(**_SUMS).reset_index()
    grouped["month_start"] = grouped["month_start"].astype("datetime64[ns]")
    period = _trading_period(lines)
    covered = pd.Series(period.to_period("M").to_timestamp()).value_counts()
    grouped["days_in_month"] = grouped["month_start"].dt.days_in_month.astype(int)
    grouped["days_covered"] = grouped["month_start"].map(covered).fillna(0).astype(int)
    grouped["complete"] = grouped["days_covered"] >= grouped["days_in_month"]
    grouped["partial"] = ~grouped["complete"]
    return grouped


def sales_by_weekday(features: pd.DataFrame) -> pd.DataFrame:
    """Net revenue per weekday, in total and per calendar day of the trading period.

    The trading period runs from the first to the last day with any counted line. Every
    calendar day in it counts, whether or not anything was sold on it, so a weekday on
    which the shop is closed averages 0 per day instead of being left out;
    ``calendar_days`` is that count per weekday and ``days_with_sales`` the days that sold
    something. ``revenue_per_day`` = revenue / ``calendar_days`` (likewise
    ``units_per_day``).
    """
    lines = _counted(features, "sales_by_weekday")
    lines = lines.assign(day=lines["transaction_date"].dt.normalize(),
                         day_of_week=lines["transaction_date"].dt.day_of_week)
    grouped = lines.groupby("day_of_week").agg(**_SUMS)
    sale_days = lines.loc[lines["is_sale"] == 1, ["day_of_week", "day"]]
    grouped["days_with_sales"] = sale_days.groupby("day_of_week")["day"].nunique()
    grouped = grouped.reindex(range(7)).fillna(0)
    for column in ("transactions", "return_lines", "days_with_sales"):
        grouped[column] = grouped[column].astype("int64")
    period = _trading_period(lines)
    grouped["calendar_days"] = (pd.Series(period.day_of_week).value_counts()
                                .reindex(range(7), fill_value=0).to_numpy())
    per_day = grouped["calendar_days"].where(grouped["calendar_days"] > 0)
    grouped["revenue_per_day"] = grouped["revenue"] / per_day
    grouped["units_per_day"] = grouped["units"] / per_day
    grouped.insert(0, "weekday", WEEKDAYS)
    grouped.index.name = "day_of_week"
    return grouped.reset_index()
