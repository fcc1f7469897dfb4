"""Business KPIs computed from the joined sales features.

Each function returns a small, tidy table so that it can be written to the warehouse as it
is and read by BI tools without further reshaping.
"""

from __future__ import annotations

import pandas as pd

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def kpi_summary(features: pd.DataFrame, products: pd.DataFrame, shops: pd.DataFrame) -> pd.DataFrame:
    """Headline numbers as a long table: metric, value, description."""
    revenue = float(features["total_amount"].sum())
    lines = len(features)
    rows = [
        ("total_revenue", revenue, "sum of quantity x actual_price over all sales"),
        ("transactions", float(lines), "number of sales lines"),
        ("average_transaction_value", revenue / lines if lines else float("nan"),
         "total revenue / number of sales lines"),
        ("units_sold", float(features["quantity"].sum()), "sum of quantity"),
        ("active_customers", float(features["customer_id"].nunique()), "distinct customers who bought"),
        ("total_products", float(len(products)), "products in the catalogue"),
        ("products_sold", float(features["product_id"].nunique()), "distinct products sold"),
        ("total_shops", float(len(shops)), "shops in the shop table"),
        ("average_discount_pct", float((1 - features["price_ratio"].mean()) * 100),
         "mean of (1 - actual_price / standard_price), in percent"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "description"])


def top_customers(features: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers who spent most (walk-in sales without a customer are left out)."""
    known = features[features["customer_id"].notna()]
    grouped = known.groupby("customer_id", observed=True).agg(
        customer_name=("customer_name", "first"),
        total_spent=("total_amount", "sum"),
        transactions=("transaction_id", "size"),
        units=("quantity", "sum"),
    )
    grouped["average_transaction_value"] = grouped["total_spent"] / grouped["transactions"]
    return (grouped.sort_values(["total_spent", "transactions"], ascending=False).head(n)
            .reset_index().assign(rank=lambda f: range(1, len(f) + 1)))


def best_selling_products(features: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` products with the most units sold, with their revenue."""
    grouped = features.groupby("product_id", observed=True).agg(
        product_name=("product_name", "first"),
        category=("category", "first"),
        units=("quantity", "sum"),
        revenue=("total_amount", "sum"),
        transactions=("transaction_id", "size"),
    )
    return (grouped.sort_values(["units", "revenue"], ascending=False).head(n)
            .reset_index().assign(rank=lambda f: range(1, len(f) + 1)))


def revenue_by_category(features: pd.DataFrame) -> pd.DataFrame:
    """Revenue, units, sales lines and revenue share per product category."""
    category = features["category"].fillna("(unknown product)")
    grouped = features.groupby(category, observed=True).agg(
        revenue=("total_amount", "sum"),
        units=("quantity", "sum"),
        transactions=("transaction_id", "size"),
        average_price_ratio=("price_ratio", "mean"),
    )
    grouped["revenue_share"] = grouped["revenue"] / grouped["revenue"].sum()
    grouped.index.name = "category"
    return grouped.sort_values("revenue", ascending=False).reset_index()


def _trading_period(features: pd.DataFrame) -> pd.DatetimeIndex:
    """Every calendar day from the first to the last day with a sale (see ``sales_by_weekday``)."""
    days = features["transaction_date"].dt.normalize()
    if days.empty or days.isna().all():
        return pd.DatetimeIndex([])
    return pd.date_range(days.min(), days.max(), freq="D")


def sales_by_month(features: pd.DataFrame) -> pd.DataFrame:
    """Revenue, units and sales lines per calendar month (first day of the month).

    ``days_covered`` counts the month's days inside the data (first to last day with a
    sale) and ``partial`` marks a month the data does not cover in full, typically the
    current one: its total is not comparable with a whole month's.
    """
    month = features["transaction_date"].dt.to_period("M").dt.to_timestamp()
    grouped = features.groupby(month.rename("month_start")).agg(
        revenue=("total_amount", "sum"),
        units=("quantity", "sum"),
        transactions=("transaction_id", "size"),
    ).reset_index()
    period = _trading_period(features)
    covered = pd.Series(period.to_period("M").to_timestamp()).value_counts()
    grouped["days_in_month"] = grouped["month_start"].dt.days_in_month.astype(int)
    grouped["days_covered"] = grouped["month_start"].map(covered).fillna(0).astype(int)
    grouped["partial"] = grouped["days_covered"] < grouped["days_in_month"]
    return grouped


def sales_by_weekday(features: pd.DataFrame) -> pd.DataFrame:
    """Revenue per weekday, in total and per calendar day the business was open.

    Open: a calendar day counts as open when it lies between the first and the last day
    with any sale in the data (the trading period). Every such day counts, whether or not
    anything was sold on it, so a weekday on which the shop is closed averages 0 per day
    instead of being left out; ``calendar_days`` is that count per weekday and
    ``days_with_sales`` the days that sold something. ``revenue_per_day`` = revenue /
    ``calendar_days``.
    """
    days = features.assign(day=features["transaction_date"].dt.normalize())
    grouped = days.groupby("day_of_week").agg(
        revenue=("total_amount", "sum"),
        units=("quantity", "sum"),
        transactions=("transaction_id", "size"),
        days_with_sales=("day", "nunique"),
    )
    grouped = grouped.reindex(range(7), fill_value=0)
    period = _trading_period(features)
    grouped["calendar_days"] = (pd.Series(period.day_of_week).value_counts()
                                .reindex(range(7), fill_value=0).to_numpy())
    grouped["revenue_per_day"] = grouped["revenue"] / grouped["calendar_days"].where(
        grouped["calendar_days"] > 0)
    grouped.insert(0, "weekday", WEEKDAYS)
    grouped.index.name = "day_of_week"
    return grouped.reset_index()
