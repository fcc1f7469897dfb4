"""The DuckDB engine gives exactly the frames of the pandas engine (issue 15).

Every comparison runs both engines on the same input and asserts the frames equal, exactly
(``check_exact=True``, floats included): same columns, dtypes, values and row order.
"""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.platform import settings
from retail_pipeline.sales import columnar, features
from retail_pipeline.sales.features import build_daily_sales, build_sales_features, use_duckdb
from retail_pipeline_tests.conftest import typed_tables


def both_feature_frames(*tables):
    expected, expected_report = build_sales_features(*tables, engine="pandas")
    actual, actual_report = build_sales_features(*tables, engine="duckdb")
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)
    assert actual_report == expected_report
    return actual, actual_report


def both_panels(transactions, daily_totals=None):
    expected = build_daily_sales(transactions, daily_totals, engine="pandas")
    actual = build_daily_sales(transactions, daily_totals, engine="duckdb")
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)
    return actual


@pytest.fixture(scope="module")
def sample_tables(small_sample):
    return typed_tables(small_sample)


@pytest.fixture
def tables():
    """Hand-made lines: a walk-in (no customer), unknown customer, product and shop ids,
    a return, a cancellation, a void line, an upper-case line type and a price-0 line."""
    transactions = pd.DataFrame({
        "transaction_id": [f"T{i}" for i in range(1, 11)],
        "customer_id": pd.Series(["C1", "C2", None, "C9", "C1", "C2", "C1", None, "C2", "C1"], dtype="str"),
        "product_id": ["P1", "P2", "P1", "P9", "P1", "P2", "P2", "P1", "P1", "P2"],
        "shop_id": ["S1", "S1", "S2", "S9", "S1", "S1", "S2", "S2", "S1", "S1"],
        "quantity": pd.array([2, 1, 3, 1, -1, -2, 4, 5, 1, 3], dtype="Int64"),
        "actual_price": [9.0, 20.0, 10.0, 5.0, 9.0, 20.0, 19.5, 0.0, 10.0, 18.0],
        "transaction_date": pd.to_datetime([
            "2024-01-06 10:00", "2024-01-07 11:00", "2024-01-08 12:00", "2024-03-01 09:00",
            "2024-01-06 17:30", "2024-01-09 08:00", "2024-01-06 10:05", "2024-01-08 13:00",
            "2024-01-06 23:59:59.999999999", "2024-01-07 00:00"], format="ISO8601"),
        "payment_method": pd.Series(["card", "cash", None, "mobile", "card", "card", "cash", "card",
                                     "card", "cash"], dtype="str"),
        "line_type": pd.Series([None, "", None, None, "return", "CANCELLATION", "void", None,
                                " Sale ", None], dtype="str"),
    })
    customers = pd.DataFrame({"customer_id": pd.Series(["C1", "C2"], dtype="str"),
                              "customer_name": pd.Series(["Ann", "Bo"], dtype="str"),
                              "age": pd.array([30, None], dtype="Int64"),
                              "city": pd.Series(["Berlin", "Hamburg"], dtype="str"),
                              "avg_monthly_spending": [100.0, 50.0],
                              "visits": np.array([2, 1], dtype="int64"),
                              "vip": np.array([True, False])})
    products = pd.DataFrame({"product_id": pd.Series(["P1", "P2"], dtype="str"),
                             "product_name": pd.Series(["Ball", "Book"], dtype="str"),
                             "category": pd.Series(["Toys", None], dtype="str"),
                             "standard_price": [10.0, 0.0],
                             "launched": pd.to_datetime(["2020-01-01", "2021-06-01"])})
    shops = pd.DataFrame({"shop_id": pd.Series(["S1", "S2"], dtype="str"),
                          "city": pd.Series(["Berlin", "Munich"], dtype="str"),
                          "payment_method": pd.Series(["x", "y"], dtype="str")})  # clashes: renamed
    return transactions, customers, products, shops


def test_line_measures_are_identical(tables, sample_tables):
    transactions = tables[0]
    odd = transactions.assign(line_type=pd.Series(["\tvoid\n", "", " ", None, "Return", "cancellation",
                                                   "VOID", "sale", "gift", None], dtype="str"))
    without = transactions.drop(columns="line_type")
    for frame in (transactions, odd, without, sample_tables["transactions"], transactions.iloc[:0]):
        expected = features.line_measures(frame)
        pd.testing.assert_frame_equal(columnar.line_measures(frame), expected, check_exact=True)
    resolved = columnar.line_measures(odd)["line_type"].tolist()
    assert resolved == ["void", "sale", "sale", "sale", "return", "cancellation", "void", "sale", "gift",
                        "sale"]


def test_sample_features_are_identical(sample_tables):
    t = sample_tables
    features, report = both_feature_frames(t["transactions"], t["customers"], t["products"], t["shops"])
    assert len(features) == len(t["transactions"]) == report.rows
    # the sample has returns, cancellations and void lines: the comparison covers them
    assert report.cancellation_lines > 0 and report.void_lines > 0 and report.walk_in_sales > 0
    assert features["transaction_id"].tolist() == t["transactions"]["transaction_id"].tolist()


def test_sample_daily_sales_are_identical(sample_tables):
    transactions = sample_tables["transactions"]
    panel = both_panels(transactions)
    counted = transactions[transactions["line_type"].ne("void").to_numpy()
                           & transactions["actual_price"].gt(0).to_numpy()]
    net_units = counted["quantity"].astype(float)
    assert panel["quantity"].sum() == pytest.approx(net_units.sum())
    assert int(panel["transaction_count"].sum()) == len(counted)


def test_sample_daily_sales_with_uploaded_totals_are_identical(sample_tables):
    transactions = sample_tables["transactions"]
    days = transactions["transaction_date"].dt.normalize()
    # totals for the first 50 days of shop S001 override the lines; one more day has no lines
    first = days.min()
    picked = transactions[(days < first + pd.Timedelta(days=50)).to_numpy()
                          & transactions["shop_id"].eq("S001").to_numpy()]
    keys = picked.assign(date=picked["transaction_date"].dt.normalize())[["date", "shop_id", "product_id"]]
    keys = keys.drop_duplicates().reset_index(drop=True)
    extra = pd.DataFrame({"date": [days.max() + pd.Timedelta(days=3)], "shop_id": ["S002"],
                          "product_id": ["P00001"]})
    totals = pd.concat([keys, extra.astype({"shop_id": "str", "product_id": "str"})], ignore_index=True)
    totals["quantity"] = pd.array(np.arange(len(totals)) % 7 + 1, dtype="Int64")
    panel = both_panels(transactions, totals)
    from_totals = panel[panel["source"] == "daily_totals"]
    assert len(from_totals) == len(totals)
    assert from_totals["transaction_count"].isna().all() and from_totals["revenue"].isna().all()


def test_hand_made_edge_cases_features(tables):
    before = [frame.copy() for frame in tables]
    features, report = both_feature_frames(*tables)
    for frame, copy in zip(tables, before, strict=True):  # the inputs are left as they were
        pd.testing.assert_frame_equal(frame, copy, check_exact=True)
    assert (report.walk_in_sales, report.unknown_customers, report.unknown_products,
            report.unknown_shops) == (2, 1, 1, 1)
    assert (report.sale_lines, report.return_lines, report.cancellation_lines, report.void_lines,
            report.zero_price_lines) == (6, 1, 1, 1, 1)
    # the dimension's int and bool columns become float and object where a customer is missing
    assert features["visits"].dtype == "float64" and features["vip"].dtype == object
    assert "shop_payment_method" in features and "customer_city" in features and "shop_city" in features


def test_hand_made_edge_cases_daily_sales(tables):
    transactions = tables[0]
    panel = both_panels(transactions)
    # T9 (23:59:59.999999999 on Jan 6) falls on Jan 6 with T1 and T5; T7 is void, T8 is at price 0
    row = panel[(panel["date"] == "2024-01-06") & (panel["shop_id"] == "S1") & (panel["product_id"] == "P1")]
    assert row[["quantity", "gross_quantity", "returned_quantity"]].iloc[0].tolist() == [2.0, 3.0, 1.0]
    assert row["transaction_count"].iloc[0] == 3
    assert not ((panel["date"] == "2024-01-08") & (panel["shop_id"] == "S2")
                & (panel["product_id"] == "P1") & (panel["quantity"] == 5)).any()


def test_daily_totals_override_transactions(tables):
    transactions = tables[0]
    totals = pd.DataFrame({"date": pd.to_datetime(["2024-01-06", "2024-01-10"]),
                           "shop_id": pd.Series(["S1", "S1"], dtype="str"),
                           "product_id": pd.Series(["P1", "P3"], dtype="str"),
                           "quantity": pd.array([11, 4], dtype="Int64")})
    panel = both_panels(transactions, totals)
    jan6 = panel[(panel["date"] == "2024-01-06") & (panel["shop_id"] == "S1") & (panel["product_id"] == "P1")]
    assert len(jan6) == 1 and jan6["quantity"].iloc[0] == 11.0 and jan6["source"].iloc[0] == "daily_totals"


def test_no_counted_line_gives_the_same_empty_panel(tables):
    transactions = tables[0]
    void_only = transactions.assign(line_type=pd.Series(["void"] * len(transactions), dtype="str"),
                                    quantity=transactions["quantity"].abs())
    assert len(both_panels(void_only)) == 0


def test_an_index_that_is_not_a_range_is_ignored_like_merge_does(tables):
    transactions, customers, products, shops = tables
    shuffled = transactions.set_axis(list(range(100, 100 + len(transactions)))[::-1])
    both_feature_frames(shuffled, customers, products, shops)


def test_a_name_taken_twice_after_the_renames_gets_pandas_suffixes_in_both(tables):
    transactions, customers, products, shops = tables
    # the customers' "age" clashes with the lines' "age" and is renamed "customer_age", which
    # the lines have too
    text = pd.Series(["x"] * len(transactions), dtype="str")
    clashing = transactions.assign(age=text, customer_age=text)
    features, _ = both_feature_frames(clashing, customers, products, shops)
    assert {"customer_age_x", "customer_age_y"} <= set(features.columns)


def test_a_duplicated_dimension_key_is_refused_by_both_engines(tables):
    transactions, customers, products, shops = tables
    doubled = pd.concat([products, products.iloc[:1]])
    for engine in ("pandas", "duckdb"):
        with pytest.raises(pd.errors.MergeError):
            build_sales_features(transactions, customers, doubled, shops, engine=engine)


def test_engine_setting(monkeypatch):
    monkeypatch.delenv("RETAIL_ENGINE", raising=False)
    assert settings.engine() == "auto"
    assert not use_duckdb(None, settings.AUTO_DUCKDB_ROWS - 1)
    assert use_duckdb(None, settings.AUTO_DUCKDB_ROWS)
    monkeypatch.setenv("RETAIL_ENGINE", "pandas")
    assert not use_duckdb(None, 10 * settings.AUTO_DUCKDB_ROWS)
    monkeypatch.setenv("RETAIL_ENGINE", "DuckDB")
    assert use_duckdb(None, 1)
    monkeypatch.setenv("RETAIL_ENGINE", "spark")
    with pytest.raises(ValueError, match="RETAIL_ENGINE"):
        use_duckdb(None, 1)


def test_daily_sales_of_many_lines_per_group_and_unusual_ids_are_identical():
    """Ids whose text order differs from any numbering (case, digits, accents, a missing shop),
    several lines per day, shop and product at random prices (the sums round the same way),
    and dates around midnight."""
    rng = np.random.default_rng(7)
    rows = 5_000
    shops = np.array(["b", "B", "a", "É", "10", "9", ""], dtype=object)
    products = np.array(["p2", "P10", "p1", "ä", "Z"], dtype=object)
    shop = pd.Series(shops[rng.integers(0, len(shops), rows)], dtype="str")
    shop[rng.random(rows) < 0.02] = None
    seconds = rng.integers(-2 * 86_400, 20 * 86_400, rows)
    transactions = pd.DataFrame({
        "transaction_id": pd.Series([f"T{i}" for i in range(rows)], dtype="str"),
        "product_id": pd.Series(products[rng.integers(0, len(products), rows)], dtype="str"),
        "shop_id": shop,
        "quantity": pd.array(rng.integers(-3, 9, rows), dtype="Int64"),
        "actual_price": np.round(rng.uniform(0, 100, rows), 2) * (rng.random(rows) > 0.01),
        "transaction_date": pd.Timestamp("2024-03-01") + pd.to_timedelta(seconds, unit="s"),
        "line_type": pd.Series(rng.choice(["", "sale", "void", "return", "cancellation"], rows), dtype="str"),
    })
    panel = both_panels(transactions)
    assert panel["transaction_count"].max() > 5
    assert set(panel["shop_id"]) == set(shops)  # the empty id is a shop; a missing one is not


def test_category_labels_are_identical(tables, sample_tables):
    products = tables[2]
    lines = pd.DataFrame({
        "category": pd.array([" Toys ", "", "  ", None, "Books", None, "Toys", "\tä\n"], dtype="str"),
        "product_name": pd.array(["a", "b", "c", "d", None, None, "e", "f"], dtype="str"),
    }, index=range(10, 18))  # not a range from 0: the labels keep the lines' index
    t = sample_tables
    sample, _ = build_sales_features(t["transactions"], t["customers"], t["products"], t["shops"])
    for frame in (lines, lines.drop(columns="product_name"), lines.iloc[:0], sample, products):
        pd.testing.assert_frame_equal(columnar.category_label(frame).to_frame(),
                                      features.category_label(frame).to_frame(), check_exact=True)
    assert columnar.category_label(lines).tolist() == [
        "Toys", "uncategorised", "uncategorised", "uncategorised", "Books", "(unknown product)", "Toys", "ä"]
