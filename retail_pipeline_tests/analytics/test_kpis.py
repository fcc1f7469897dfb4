"""KPI tables against numbers recomputed independently in the test."""

import pandas as pd
import pytest

from retail_pipeline.analytics import kpis
from retail_pipeline.sales.features import build_sales_features
from retail_pipeline_tests.conftest import typed_tables


@pytest.fixture(scope="module")
def inputs(small_sample):
    t = typed_tables(small_sample)
    features, _ = build_sales_features(t["transactions"], t["customers"], t["products"], t["shops"])
    return features, t


def test_summary_numbers(inputs, small_sample):
    features, t = inputs
    raw = small_sample.transactions
    expected_revenue = float((raw["quantity"] * raw["actual_price"]).sum())
    summary = kpis.kpi_summary(features, t["products"], t["shops"]).set_index("metric")["value"]
    assert summary["total_revenue"] == pytest.approx(expected_revenue)
    assert summary["average_transaction_value"] == pytest.approx(expected_revenue / len(raw))
    assert summary["units_sold"] == raw["quantity"].sum()
    assert summary["total_products"] == len(small_sample.products)
    assert summary["total_shops"] == len(small_sample.shops)
    assert summary["active_customers"] == raw["customer_id"].dropna().nunique()


def test_top_customers_are_the_biggest_spenders(inputs, small_sample):
    raw = small_sample.transactions.dropna(subset=["customer_id"])
    spent = (raw["quantity"] * raw["actual_price"]).groupby(raw["customer_id"]).sum().sort_values(ascending=False)
    top = kpis.top_customers(inputs[0], n=5)
    assert top["customer_id"].tolist() == spent.index[:5].tolist()
    assert top["total_spent"].tolist() == pytest.approx(spent.iloc[:5].tolist())
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]


def test_best_sellers_by_units(inputs, small_sample):
    units = small_sample.transactions.groupby("product_id")["quantity"].sum().sort_values(ascending=False)
    best = kpis.best_selling_products(inputs[0], n=3)
    assert best["units"].tolist() == units.iloc[:3].tolist()


def test_revenue_by_category_adds_up(inputs, small_sample):
    joined = small_sample.transactions.merge(small_sample.products, on="product_id")
    expected = (joined["quantity"] * joined["actual_price"]).groupby(joined["category"]).sum()
    table = kpis.revenue_by_category(inputs[0]).set_index("category")
    assert table["revenue"].sort_index().tolist() == pytest.approx(expected.sort_index().tolist())
    assert table["revenue_share"].sum() == pytest.approx(1.0)


def test_by_month_and_weekday(inputs, small_sample):
    raw = small_sample.transactions
    revenue = raw["quantity"] * raw["actual_price"]
    by_month = kpis.sales_by_month(inputs[0])
    assert len(by_month) == 24
    first = revenue[raw["transaction_date"] < "2023-02-01"].sum()
    assert by_month["revenue"].iloc[0] == pytest.approx(first)
    by_weekday = kpis.sales_by_weekday(inputs[0])
    assert by_weekday["weekday"].tolist()[0] == "Monday"
    saturday = revenue[raw["transaction_date"].dt.weekday == 5].sum()
    assert by_weekday.loc[5, "revenue"] == pytest.approx(saturday)
    assert by_weekday["revenue"].sum() == pytest.approx(revenue.sum())


def test_empty_sales_give_empty_tables(inputs):
    empty = inputs[0].iloc[:0]
    assert kpis.top_customers(empty).empty and kpis.revenue_by_category(empty).empty
    assert kpis.sales_by_weekday(empty)["revenue"].sum() == 0
    assert pd.isna(kpis.kpi_summary(empty, inputs[1]["products"], inputs[1]["shops"])
                   .set_index("metric").loc["average_transaction_value", "value"])


def _one_shop_sales(days: pd.DatetimeIndex, amount: float = 100.0) -> pd.DataFrame:
    """One sales line of ``amount`` per given day, in the columns the KPI functions read."""
    return pd.DataFrame({
        "transaction_date": days + pd.Timedelta(hours=10),
        "day_of_week": days.day_of_week,
        "total_amount": amount, "quantity": 2, "transaction_id": [f"T{i}" for i in range(len(days))],
    })


def test_weekday_kpi_counts_closed_days_as_zero_per_calendar_day():
    days = pd.date_range("2024-01-01", "2024-03-31")  # 13 Mondays .. 13 Sundays (91 days)
    open_days = days[days.day_of_week != 5]  # the shop is closed on Saturdays
    table = kpis.sales_by_weekday(_one_shop_sales(open_days)).set_index("weekday")
    assert table.loc["Saturday", "revenue_per_day"] == 0
    assert table.loc["Saturday", "calendar_days"] == 13
    assert table.loc["Saturday", "days_with_sales"] == 0
    assert table.loc["Monday", "revenue_per_day"] == pytest.approx(100.0)
    # a Monday without sales still counts as a calendar day: the mean per day drops
    fewer = open_days[open_days != pd.Timestamp("2024-01-08")]
    table = kpis.sales_by_weekday(_one_shop_sales(fewer)).set_index("weekday")
    assert table.loc["Monday", "revenue_per_day"] == pytest.approx(12 * 100.0 / 13)


def test_month_kpi_marks_a_partial_month():
    days = pd.date_range("2024-01-01", "2024-03-12")
    table = kpis.sales_by_month(_one_shop_sales(days)).set_index("month_start")
    assert table["partial"].tolist() == [False, False, True]
    assert table.loc["2024-03-01", "days_covered"] == 12
    assert table.loc["2024-02-01", "days_in_month"] == 29
    assert table.loc["2024-03-01", "revenue"] == pytest.approx(12 * 100.0)


def test_temporal_chart_draws_the_partial_month(tmp_path):
    from retail_pipeline.analytics.charts import temporal_patterns_chart

    sales = _one_shop_sales(pd.date_range("2024-01-01", "2024-03-12"))
    path = temporal_patterns_chart(kpis.sales_by_month(sales), kpis.sales_by_weekday(sales),
                                   tmp_path / "t.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
