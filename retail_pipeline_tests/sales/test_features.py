"""Joins and per-sale features, checked against values worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.sales.features import build_daily_sales, build_sales_features


@pytest.fixture
def tables():
    transactions = pd.DataFrame({
        "transaction_id": ["T1", "T2", "T3", "T4"],
        "customer_id": pd.Series(["C1", "C2", None, "C9"], dtype="str"),
        "product_id": ["P1", "P2", "P1", "P9"],
        "shop_id": ["S1", "S1", "S2", "S9"],
        "quantity": pd.array([2, 1, 3, 1], dtype="Int64"),
        "actual_price": [9.0, 20.0, 10.0, 5.0],
        # Saturday, Sunday, Monday, Friday
        "transaction_date": pd.to_datetime(["2024-01-06 10:00", "2024-01-07 11:00",
                                            "2024-01-08 12:00", "2024-03-01 09:00"]),
        "payment_method": ["card", "cash", "card", "mobile"],
    })
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "customer_name": ["Ann", "Bo"],
                              "gender": ["female", "male"], "age": pd.array([30, 40], dtype="Int64"),
                              "city": ["Berlin", "Hamburg"], "preferred_categories": ["Toys", "Books;Toys"],
                              "avg_monthly_spending": [100.0, 50.0], "visits_per_month": [2.0, 1.0]})
    products = pd.DataFrame({"product_id": ["P1", "P2"], "product_name": ["Ball", "Book"],
                             "category": ["Toys", "Books"], "brand": ["A", "B"],
                             "standard_price": [10.0, 20.0], "unit_cost": ["4", "12"]})
    shops = pd.DataFrame({"shop_id": ["S1", "S2"], "city": ["Berlin", "Munich"], "district": ["Mitte", "Au"]})
    return transactions, customers, products, shops


def test_left_joins_keep_every_sale_and_count_unknowns(tables):
    features, report = build_sales_features(*tables)
    assert len(features) == 4
    assert features["transaction_id"].tolist() == ["T1", "T2", "T3", "T4"]
    assert (report.walk_in_sales, report.unknown_customers, report.unknown_products,
            report.unknown_shops) == (1, 1, 1, 1)
    t4 = features.set_index("transaction_id").loc["T4"]
    assert pd.isna(t4["category"]) and pd.isna(t4["shop_city"]) and pd.isna(t4["price_ratio"])


def test_feature_values(tables):
    f = build_sales_features(*tables)[0].set_index("transaction_id")
    assert f.loc["T1", "total_amount"] == 18.0
    assert f.loc["T1", "price_difference"] == -1.0
    assert f.loc["T1", "price_ratio"] == pytest.approx(0.9)
    assert f["day_of_week"].tolist() == [5, 6, 0, 4]
    assert f["is_weekend"].tolist() == [True, True, False, False]
    assert f["month"].tolist() == [1, 1, 1, 3]
    assert f.loc["T1", "customer_city"] == "Berlin" and f.loc["T3", "shop_city"] == "Munich"
    assert f.loc["T2", "age"] == 40 and f.loc["T2", "preferred_categories"] == "Books;Toys"
    assert f.loc["T1", "brand"] == "A" and f.loc["T1", "district"] == "Mitte"
    assert f.loc["T1", "unit_cost"] == "4"  # extra product columns travel along


def test_a_duplicated_dimension_key_cannot_multiply_rows(tables):
    transactions, customers, products, shops = tables
    doubled = pd.concat([products, products.iloc[:1]])
    with pytest.raises(pd.errors.MergeError):
        build_sales_features(transactions, customers, doubled, shops)


def test_join_keeps_row_count_on_generated_data(small_sample):
    from retail_pipeline_tests.conftest import typed_tables

    t = typed_tables(small_sample)
    features, report = build_sales_features(t["transactions"], t["customers"], t["products"], t["shops"])
    assert len(features) == len(t["transactions"]) == report.rows
    raw = small_sample.transactions
    void = (raw["line_type"] == "void").to_numpy()
    expected = np.where(void, 0.0, raw["quantity"].astype(float) * raw["actual_price"])
    assert np.allclose(features["total_amount"], expected)
    planted = small_sample.truth["returns"]
    assert (report.sale_lines, report.return_lines, report.cancellation_lines, report.void_lines) == (
        planted["sale_lines"], planted["return_lines"], planted["cancellation_lines"], planted["void_lines"])


def test_daily_sales_on_generated_data_nets_returns(small_sample):
    from retail_pipeline_tests.conftest import typed_tables

    t = typed_tables(small_sample)
    daily = build_daily_sales(t["transactions"])
    raw = small_sample.transactions
    kept = raw[raw["line_type"].ne("void") | raw["line_type"].isna()]
    sold = kept[kept["quantity"] > 0]
    back = kept[kept["quantity"] < 0]
    assert daily["quantity"].sum() == kept["quantity"].sum()
    assert daily["gross_quantity"].sum() == sold["quantity"].sum()
    assert daily["returned_quantity"].sum() == -back["quantity"].sum()
    assert daily["revenue"].sum() == pytest.approx((kept["quantity"] * kept["actual_price"]).sum())
    assert daily["returned_revenue"].sum() == pytest.approx(-(back["quantity"] * back["actual_price"]).sum())
    assert daily["transaction_count"].sum() == len(kept)
    per_key = kept.groupby([kept["transaction_date"].dt.normalize(), "shop_id", "product_id"]).size()
    assert len(daily) == len(per_key)


def test_daily_sales_sums_per_day_shop_and_product(tables):
    transactions = tables[0]
    extra = transactions.iloc[[0]].assign(transaction_id="T5", quantity=pd.array([1], dtype="Int64"),
                                          actual_price=8.0,
                                          transaction_date=pd.Timestamp("2024-01-06 18:00"))
    daily = build_daily_sales(pd.concat([transactions, extra], ignore_index=True))
    row = daily[(daily["date"] == "2024-01-06") & (daily["shop_id"] == "S1") & (daily["product_id"] == "P1")]
    assert row[["quantity", "revenue", "transaction_count"]].iloc[0].tolist() == [3.0, 26.0, 2]
    assert row[["gross_quantity", "returned_quantity", "gross_revenue", "returned_revenue"]].iloc[0].tolist() == [
        3.0, 0.0, 26.0, 0.0]
    assert len(daily) == 4 and daily["quantity"].sum() == 8
    assert daily.columns.tolist() == ["date", "shop_id", "product_id", "quantity", "revenue", "gross_quantity",
                                      "returned_quantity", "gross_revenue", "returned_revenue",
                                      "transaction_count", "source"]


def test_uploaded_daily_totals_join_the_panel_and_win_on_overlap(tables):
    totals = pd.DataFrame({"date": pd.to_datetime(["2024-01-06", "2024-01-20"]), "shop_id": ["S1", "1"],
                           "product_id": ["P1", "7"], "quantity": pd.array([5, 0], dtype="Int64")})
    daily = build_daily_sales(tables[0], totals).set_index(["date", "shop_id", "product_id"])
    overlap = daily.loc[(pd.Timestamp("2024-01-06"), "S1", "P1")]
    assert overlap["quantity"] == 5.0 and overlap["source"] == "daily_totals" and pd.isna(overlap["revenue"])
    assert overlap["gross_quantity"] == 5.0 and overlap["returned_quantity"] == 0.0
    assert daily.loc[(pd.Timestamp("2024-01-20"), "1", "7"), "quantity"] == 0.0
    assert len(daily) == 5  # 4 transaction days, one replaced by its total, plus one new total


def _lines(rows: list[tuple]) -> pd.DataFrame:
    """Transaction lines from (id, product, quantity, price, date, line_type) tuples, shop S1."""
    ids, products, quantities, prices, dates, types = zip(*rows, strict=True)
    return pd.DataFrame({
        "transaction_id": list(ids), "customer_id": pd.Series(["C1"] * len(rows), dtype="str"),
        "product_id": list(products), "shop_id": "S1",
        "quantity": pd.array(quantities, dtype="Int64"), "actual_price": list(prices),
        "transaction_date": pd.to_datetime(list(dates)), "payment_method": "card",
        "line_type": pd.Series(types, dtype="str"),
    })


MIXED = [
    ("T1", "P1", 4, 10.0, "2024-01-06 10:00", None),  # sale (empty type, positive)
    ("T2", "P1", -1, 10.0, "2024-01-10 10:00", None),  # return (empty type, negative)
    ("T3", "P2", -2, 20.0, "2024-01-10 11:00", "return"),
    ("T4", "P2", 3, 20.0, "2024-01-06 12:00", "sale"),
    ("T5", "P2", -3, 20.0, "2024-01-20 12:00", "cancellation"),
    ("T6", "P1", 7, 10.0, "2024-01-06 13:00", "void"),  # never became a sale
    ("T7", "P1", 500, 0.0, "2024-01-06 14:00", None),  # a stock adjustment at price 0
    ("T8", "P1", -40, 0.0, "2024-01-10 15:00", None),  # written off at price 0
]


def test_line_measures_split_gross_returned_and_net(tables):
    _, customers, products, shops = tables
    f = build_sales_features(_lines(MIXED), customers, products, shops)[0].set_index("transaction_id")
    assert f["line_type"].tolist() == ["sale", "return", "return", "sale", "cancellation", "void", "sale", "return"]
    assert f["is_return"].tolist() == [False, True, True, False, True, False, False, True]
    assert f["counted"].tolist() == [True, True, True, True, True, False, False, False]
    assert f["gross_quantity"].tolist() == [4, 0, 0, 3, 0, 0, 0, 0]
    assert f["returned_quantity"].tolist() == [0, 1, 2, 0, 3, 0, 0, 0]
    assert f["net_quantity"].tolist() == [4, -1, -2, 3, -3, 0, 0, 0]
    assert f["gross_amount"].tolist() == [40.0, 0, 0, 60.0, 0, 0, 0, 0]
    assert f["returned_amount"].tolist() == [0, 10.0, 40.0, 0, 60.0, 0, 0, 0]
    assert f["total_amount"].tolist() == [40.0, -10.0, -40.0, 60.0, -60.0, 0, 0, 0]
    assert f["quantity"].tolist() == [4, -1, -2, 3, -3, 7, 500, -40]  # the line as uploaded stays


def test_lines_without_a_line_type_column_resolve_by_sign(tables):
    _, customers, products, shops = tables
    lines = _lines(MIXED[:2]).drop(columns="line_type")
    f = build_sales_features(lines, customers, products, shops)[0]
    assert f["line_type"].tolist() == ["sale", "return"] and f["net_quantity"].sum() == 3


def test_daily_sales_leave_void_and_zero_price_lines_out(tables):
    daily = build_daily_sales(_lines(MIXED)).set_index(["date", "product_id"])
    # 2024-01-06: P1 sold 4 (the void 7 and the price-0 500 are not sales), P2 sold 3
    assert daily.loc[(pd.Timestamp("2024-01-06"), "P1"), ["quantity", "revenue", "transaction_count"]].tolist() == [
        4.0, 40.0, 1]
    # 2024-01-10: one P1 unit and two P2 units came back (the price-0 write-off is no return)
    p1 = daily.loc[(pd.Timestamp("2024-01-10"), "P1")]
    assert p1[["quantity", "gross_quantity", "returned_quantity", "revenue", "returned_revenue"]].tolist() == [
        -1.0, 0.0, 1.0, -10.0, 10.0]
    assert daily["gross_quantity"].sum() == 7 and daily["returned_quantity"].sum() == 6
    assert daily["quantity"].sum() == 1 and daily["revenue"].sum() == pytest.approx(100.0 - 110.0)


def test_a_cancelled_bulk_order_nets_to_zero_and_shows_on_its_own_day(tables):
    """A 9,360-unit order cancelled a month later: gross on the sale day, the cancellation on
    its own day, nothing left net on the product over the period."""
    lines = _lines([
        ("T1", "P1", 9_360, 2.5, "2024-03-05 10:00", None),
        ("T2", "P1", -9_360, 2.5, "2024-04-04 09:00", "cancellation"),
        ("T3", "P1", 2, 2.5, "2024-03-05 11:00", None),
        ("T4", "P1", 3, 2.5, "2024-04-04 12:00", None),
    ])
    daily = build_daily_sales(lines).set_index("date")
    sale_day, cancel_day = daily.loc["2024-03-05"], daily.loc["2024-04-04"]
    assert sale_day["gross_quantity"] == 9_362 and sale_day["quantity"] == 9_362
    assert cancel_day["gross_quantity"] == 3 and cancel_day["returned_quantity"] == 9_360
    assert cancel_day["quantity"] == 3 - 9_360 and cancel_day["returned_revenue"] == pytest.approx(9_360 * 2.5)
    assert daily["quantity"].sum() == 5 and daily["revenue"].sum() == pytest.approx(5 * 2.5)


def test_daily_sales_check_allows_a_negative_net_day_but_not_a_broken_balance():
    from retail_pipeline.defs.sales.assets import daily_sales_is_a_panel

    panel = build_daily_sales(_lines(MIXED))
    assert (panel["quantity"] < 0).any()  # days with only returns are negative net
    result = daily_sales_is_a_panel(panel)
    assert result.passed and result.metadata["negative_net_rows"].value == (panel["quantity"] < 0).sum()
    assert not daily_sales_is_a_panel(pd.concat([panel, panel.iloc[:1]])).passed
    broken = panel.assign(returned_quantity=panel["returned_quantity"] + 1)
    assert daily_sales_is_a_panel(broken).metadata["net_not_gross_minus_returned"].value == len(panel)
    assert not daily_sales_is_a_panel(panel.assign(gross_quantity=-panel["gross_quantity"] - 1)).passed
