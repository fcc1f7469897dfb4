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


@pytest.fixture(scope="module")
def raw(small_sample):
    """The sample's lines as generated, void lines dropped (they count nowhere), with net revenue."""
    lines = small_sample.transactions
    kept = lines[lines["line_type"].ne("void") | lines["line_type"].isna()]
    return kept.assign(revenue=kept["quantity"] * kept["actual_price"])


def test_summary_numbers(inputs, small_sample, raw):
    features, t = inputs
    sold, back = raw[raw["quantity"] > 0], raw[raw["quantity"] < 0]
    summary = kpis.kpi_summary(features, t["products"], t["shops"]).set_index("metric")["value"]
    assert summary["total_revenue"] == pytest.approx(raw["revenue"].sum())
    assert summary["net_revenue"] == pytest.approx(raw["revenue"].sum())
    assert summary["gross_revenue"] == pytest.approx(sold["revenue"].sum())
    assert summary["returned_revenue"] == pytest.approx(-back["revenue"].sum())
    assert summary["gross_units"] == sold["quantity"].sum()
    assert summary["returned_units"] == -back["quantity"].sum()
    assert summary["units_sold"] == summary["net_units"] == raw["quantity"].sum()
    assert summary["transactions"] == len(sold)
    assert summary["average_transaction_value"] == pytest.approx(sold["revenue"].sum() / len(sold))
    assert summary["voided_lines"] == (small_sample.transactions["line_type"] == "void").sum()
    assert summary["cancellation_lines"] == (raw["line_type"] == "cancellation").sum()
    assert summary["return_lines"] == len(back) - summary["cancellation_lines"]
    assert summary["total_products"] == len(small_sample.products)
    assert summary["total_shops"] == len(small_sample.shops)
    assert summary["active_customers"] == sold["customer_id"].dropna().nunique()


def test_return_rate_recovers_the_planted_rate(inputs, small_sample):
    """The sample plants returns and cancellations; the KPI return rate is exactly the planted one."""
    features, t = inputs
    planted = small_sample.truth["returns"]
    lines = small_sample.transactions
    back = lines[lines["quantity"] < 0]
    sale = lines[(lines["quantity"] > 0) & lines["line_type"].isna()]
    independent = -back["quantity"].sum() / sale["quantity"].sum()
    summary = kpis.kpi_summary(features, t["products"], t["shops"]).set_index("metric")["value"]
    assert summary["return_rate"] == pytest.approx(independent, rel=1e-12)
    assert summary["return_rate"] == pytest.approx(planted["return_rate"], rel=1e-12)
    assert summary["return_rate_revenue"] == pytest.approx(planted["return_rate_revenue"], rel=1e-12)
    assert summary["return_lines"] == planted["return_lines"] > 0
    assert summary["cancellation_lines"] == planted["cancellation_lines"] > 0
    assert summary["voided_lines"] == planted["void_lines"] > 0
    assert summary["returned_units"] == planted["returned_units"] + planted["cancelled_units"]
    assert summary["gross_units"] == planted["sold_units"]


def test_top_customers_are_the_biggest_net_spenders(inputs, raw):
    known = raw.dropna(subset=["customer_id"])
    spent = known["revenue"].groupby(known["customer_id"]).sum().sort_values(ascending=False)
    top = kpis.top_customers(inputs[0], n=5)
    assert top["customer_id"].tolist() == spent.index[:5].tolist()
    assert top["total_spent"].tolist() == pytest.approx(spent.iloc[:5].tolist())
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]
    first = known[known["customer_id"] == top["customer_id"].iloc[0]]
    assert top["transactions"].iloc[0] == (first["quantity"] > 0).sum()
    assert top["returned_spent"].iloc[0] == pytest.approx(-first.loc[first["quantity"] < 0, "revenue"].sum())


def test_best_sellers_by_net_units(inputs, raw):
    units = raw.groupby("product_id")["quantity"].sum().sort_values(ascending=False)
    best = kpis.best_selling_products(inputs[0], n=3)
    assert best["units"].tolist() == units.iloc[:3].tolist()
    sold = raw[raw["quantity"] > 0].groupby("product_id")["quantity"].sum()
    assert best["gross_units"].tolist() == sold[best["product_id"]].tolist()


def test_revenue_by_category_adds_up(inputs, small_sample, raw):
    joined = raw.merge(small_sample.products, on="product_id")
    expected = joined["revenue"].groupby(joined["category"]).sum()
    table = kpis.revenue_by_category(inputs[0]).set_index("category")
    assert table["revenue"].sort_index().tolist() == pytest.approx(expected.sort_index().tolist())
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert (table["gross_revenue"] - table["returned_revenue"]).tolist() == pytest.approx(table["revenue"].tolist())


def test_by_month_and_weekday(inputs, raw):
    by_month = kpis.sales_by_month(inputs[0])
    assert len(by_month) == 24
    # the sample covers round(365.25 * 2) = 730 days from 2023-01-01: December 2024 lacks its 31st
    last_day = raw["transaction_date"].max()
    assert last_day.normalize() == pd.Timestamp("2024-12-30")
    assert by_month["complete"].tolist() == [True] * 23 + [False]
    assert by_month["days_covered"].iloc[-1] == 30
    first = raw.loc[raw["transaction_date"] < "2023-02-01", "revenue"].sum()
    assert by_month["revenue"].iloc[0] == pytest.approx(first)
    by_weekday = kpis.sales_by_weekday(inputs[0])
    assert by_weekday["weekday"].tolist()[0] == "Monday"
    saturday = raw.loc[raw["transaction_date"].dt.day_of_week == 5, "revenue"].sum()
    assert by_weekday.loc[5, "revenue"] == pytest.approx(saturday)
    assert by_weekday["revenue"].sum() == pytest.approx(raw["revenue"].sum())


def test_empty_sales_give_empty_tables(inputs):
    empty = inputs[0].iloc[:0]
    assert kpis.top_customers(empty).empty and kpis.revenue_by_category(empty).empty
    assert kpis.sales_by_weekday(empty)["revenue"].sum() == 0
    assert pd.isna(kpis.kpi_summary(empty, inputs[1]["products"], inputs[1]["shops"])
                   .set_index("metric").loc["average_transaction_value", "value"])


def _features(transactions: pd.DataFrame) -> pd.DataFrame:
    """Sales features of hand-made lines (products P1 'Ball' in Toys, P2 'Bag' without category)."""
    products = pd.DataFrame({"product_id": ["P1", "P2"], "product_name": ["Ball", "Bag"],
                             "category": pd.Series(["Toys", None], dtype="str"),
                             "brand": ["A", "B"], "standard_price": [50.0, 10.0]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "customer_name": ["Ann", "Bo"]})
    shops = pd.DataFrame({"shop_id": ["S1"], "city": ["Berlin"]})
    return build_sales_features(transactions, customers, products, shops)[0]


def _one_shop_sales(days: pd.DatetimeIndex, amount: float = 100.0) -> pd.DataFrame:
    """One sale line of ``amount`` (2 units at amount / 2) per given day, in one shop."""
    return _features(pd.DataFrame({
        "transaction_id": [f"T{i}" for i in range(len(days))],
        "customer_id": pd.Series(["C1"] * len(days), dtype="str"),
        "product_id": "P1", "shop_id": "S1",
        "quantity": pd.array([2] * len(days), dtype="Int64"), "actual_price": amount / 2,
        "transaction_date": days + pd.Timedelta(hours=10), "payment_method": "card",
    }))


def test_weekday_kpi_counts_closed_days_as_zero_per_calendar_day():
    days = pd.date_range("2024-01-01", "2024-03-31")  # 13 Mondays .. 13 Sundays (91 days)
    open_days = days[days.day_of_week != 5]  # the shop is closed on Saturdays
    table = kpis.sales_by_weekday(_one_shop_sales(open_days)).set_index("weekday")
    assert table.loc["Saturday", "revenue_per_day"] == 0
    assert table.loc["Saturday", "calendar_days"] == 13
    assert table.loc["Saturday", "days_with_sales"] == 0
    assert table.loc["Saturday", "revenue"] == 0 and table.loc["Saturday", "units_per_day"] == 0
    assert table.loc["Monday", "revenue_per_day"] == pytest.approx(100.0)
    # a Monday without sales still counts as a calendar day: the mean per day drops
    fewer = open_days[open_days != pd.Timestamp("2024-01-08")]
    table = kpis.sales_by_weekday(_one_shop_sales(fewer)).set_index("weekday")
    assert table.loc["Monday", "revenue_per_day"] == pytest.approx(12 * 100.0 / 13)


def test_month_kpi_marks_a_partial_month():
    days = pd.date_range("2024-01-01", "2024-03-12")
    table = kpis.sales_by_month(_one_shop_sales(days)).set_index("month_start")
    assert table["partial"].tolist() == [False, False, True]
    assert table["complete"].tolist() == [True, True, False]
    assert table.loc["2024-03-01", "days_covered"] == 12
    assert table.loc["2024-02-01", "days_in_month"] == 29
    assert table.loc["2024-03-01", "revenue"] == pytest.approx(12 * 100.0)


def test_temporal_chart_draws_the_partial_month(tmp_path):
    from retail_pipeline.analytics.charts import temporal_patterns_chart

    sales = _one_shop_sales(pd.date_range("2024-01-01", "2024-03-12"))
    path = temporal_patterns_chart(kpis.sales_by_month(sales), kpis.sales_by_weekday(sales),
                                   tmp_path / "t.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _lines(rows: list[tuple]) -> pd.DataFrame:
    """Transaction lines from (id, customer, product, quantity, price, date, line_type) tuples."""
    ids, customers, products, quantities, prices, dates, types = zip(*rows, strict=True)
    return pd.DataFrame({
        "transaction_id": list(ids), "customer_id": pd.Series(customers, dtype="str"),
        "product_id": list(products), "shop_id": "S1",
        "quantity": pd.array(quantities, dtype="Int64"), "actual_price": list(prices),
        "transaction_date": pd.to_datetime(list(dates)), "payment_method": "card",
        "line_type": pd.Series(types, dtype="str"),
    })


BULK_CANCELLED = [
    ("T1", "C1", "P1", 9_360, 2.5, "2024-03-05 10:00", None),
    ("T2", "C1", "P1", -9_360, 2.5, "2024-04-04 09:00", "cancellation"),
    ("T3", "C2", "P2", 10, 8.0, "2024-03-06 10:00", None),
    ("T4", "C2", "P2", -2, 8.0, "2024-03-20 10:00", None),
    ("T5", "C2", "P2", 6, 8.0, "2024-04-30 10:00", "void"),
    ("T6", "C2", "P1", 300, 0.0, "2024-04-30 11:00", None),  # a price-0 stock adjustment
]


def test_a_cancelled_bulk_order_is_no_best_seller_and_no_spike_net():
    f = _features(_lines(BULK_CANCELLED))
    best = kpis.best_selling_products(f).set_index("product_id")
    assert best.index.tolist() == ["P2", "P1"]  # P2 sold 8 net; P1 nothing net
    assert best.loc["P1", ["units", "gross_units", "returned_units", "revenue"]].tolist() == [0, 9_360, 9_360, 0]
    assert best.loc["P2", ["units", "gross_units", "returned_units"]].tolist() == [8, 10, 2]
    assert best.loc["P2", "return_rate"] == pytest.approx(0.2)
    assert best.loc["P2", "category"] == "uncategorised"
    month = kpis.sales_by_month(f).set_index("month_start")
    assert month.loc["2024-03-01", ["gross_units", "returned_units", "units"]].tolist() == [9_370, 2, 9_368]
    assert month.loc["2024-04-01", ["gross_units", "returned_units", "units"]].tolist() == [0, 9_360, -9_360]
    assert month["units"].sum() == 8 and month["revenue"].sum() == pytest.approx(64.0)
    top = kpis.top_customers(f).set_index("customer_id")
    assert top.loc["C1", "total_spent"] == 0 and top.loc["C1", "returned_spent"] == pytest.approx(23_400.0)
    assert top.index.tolist() == ["C2", "C1"]


def test_summary_counts_returns_and_leaves_void_and_price_zero_lines_out():
    f = _features(_lines(BULK_CANCELLED))
    products = pd.DataFrame({"product_id": ["P1", "P2"]})
    summary = kpis.kpi_summary(f, products, pd.DataFrame({"shop_id": ["S1"]})).set_index("metric")["value"]
    gross_units, returned_units = 9_360 + 10, 9_360 + 2
    gross, returned = 9_360 * 2.5 + 10 * 8.0, 9_360 * 2.5 + 2 * 8.0
    assert summary["gross_units"] == gross_units and summary["returned_units"] == returned_units
    assert summary["net_units"] == summary["units_sold"] == 8
    assert summary["gross_revenue"] == pytest.approx(gross) and summary["returned_revenue"] == pytest.approx(returned)
    assert summary["total_revenue"] == pytest.approx(64.0)
    assert summary["return_rate"] == pytest.approx(returned_units / gross_units)
    assert summary["return_rate_revenue"] == pytest.approx(returned / gross)
    assert summary["transactions"] == 2 and summary["average_transaction_value"] == pytest.approx(gross / 2)
    assert (summary["return_lines"], summary["cancellation_lines"]) == (1, 1)
    assert (summary["voided_lines"], summary["zero_price_lines"]) == (1, 1)


def test_categories_show_uncategorised_and_net_revenue():
    table = kpis.revenue_by_category(_features(_lines(BULK_CANCELLED))).set_index("category")
    assert set(table.index) == {"Toys", "uncategorised"}
    assert table.loc["uncategorised", ["revenue", "gross_revenue", "returned_revenue"]].tolist() == [64.0, 80.0, 16.0]
    assert table.loc["Toys", ["units", "gross_units", "returned_units", "revenue"]].tolist() == [0, 9_360, 9_360, 0]
    assert table.loc["uncategorised", "return_rate"] == pytest.approx(0.2)


def test_weekday_kpi_nets_returns_on_the_day_they_came_back():
    f = _features(_lines(BULK_CANCELLED))
    table = kpis.sales_by_weekday(f).set_index("weekday")
    # 2024-03-05 Tuesday: +9,360 x 2.5; 2024-04-04 Thursday: the cancellation
    assert table.loc["Tuesday", "revenue"] == pytest.approx(23_400.0)
    assert table.loc["Thursday", ["gross_revenue", "returned_revenue", "revenue"]].tolist() == [0, 23_400.0, -23_400.0]
    # trading period 2024-03-05 .. 2024-04-04 (the void and price-0 lines of 04-30 count nowhere)
    assert table["calendar_days"].sum() == 31


def test_category_chart_draws_returns_and_a_negative_net(tmp_path):
    from retail_pipeline.analytics.charts import category_performance_chart

    lines = _lines(BULK_CANCELLED[1:])  # the cancellation without its sale: P1 is negative net
    table = kpis.revenue_by_category(_features(lines))
    assert table.set_index("category").loc["Toys", "units"] == -9_360
    path = category_performance_chart(table, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_charts_draw_empty_tables(tmp_path, inputs):
    import warnings

    from retail_pipeline.analytics.charts import category_performance_chart, temporal_patterns_chart

    empty = inputs[0].iloc[:0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        category_performance_chart(kpis.revenue_by_category(empty), tmp_path / "c.png")
        temporal_patterns_chart(kpis.sales_by_month(empty), kpis.sales_by_weekday(empty), tmp_path / "t.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_each_table_needs_only_the_columns_its_asset_loads(inputs):
    """The assets load ``kpis.COLUMNS[table]`` of ``sales_features``: each table from those
    columns alone equals the table from the whole frame."""
    features, t = inputs
    products, shops = t["products"], t["shops"]
    tables = {
        "kpi_summary": lambda f: kpis.kpi_summary(f, products, shops),
        "top_customers": lambda f: kpis.top_customers(f, 25),
        "best_selling_products": lambda f: kpis.best_selling_products(f, 25),
        "revenue_by_category": kpis.revenue_by_category,
        "sales_by_month": kpis.sales_by_month,
        "sales_by_weekday": kpis.sales_by_weekday,
    }
    assert set(tables) == set(kpis.COLUMNS)
    for table, build in tables.items():
        whole = build(features)
        assert len(whole) > 0
        pd.testing.assert_frame_equal(build(features[kpis.COLUMNS[table]]), whole, check_exact=True)
