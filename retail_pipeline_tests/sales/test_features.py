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
    assert np.allclose(features["total_amount"],
                       t["transactions"]["quantity"].astype(float) * t["transactions"]["actual_price"])


def test_daily_sales_sums_per_day_shop_and_product(tables):
    transactions = tables[0]
    extra = transactions.iloc[[0]].assign(transaction_id="T5", quantity=pd.array([1], dtype="Int64"),
                                          actual_price=8.0,
                                          transaction_date=pd.Timestamp("2024-01-06 18:00"))
    daily = build_daily_sales(pd.concat([transactions, extra], ignore_index=True))
    row = daily[(daily["date"] == "2024-01-06") & (daily["shop_id"] == "S1") & (daily["product_id"] == "P1")]
    assert row[["quantity", "revenue", "transaction_count"]].iloc[0].tolist() == [3.0, 26.0, 2]
    assert len(daily) == 4 and daily["quantity"].sum() == 8


def test_uploaded_daily_totals_join_the_panel_and_win_on_overlap(tables):
    totals = pd.DataFrame({"date": pd.to_datetime(["2024-01-06", "2024-01-20"]), "shop_id": ["S1", "1"],
                           "product_id": ["P1", "7"], "quantity": pd.array([5, 0], dtype="Int64")})
    daily = build_daily_sales(tables[0], totals).set_index(["date", "shop_id", "product_id"])
    overlap = daily.loc[(pd.Timestamp("2024-01-06"), "S1", "P1")]
    assert overlap["quantity"] == 5.0 and overlap["source"] == "daily_totals" and pd.isna(overlap["revenue"])
    assert daily.loc[(pd.Timestamp("2024-01-20"), "1", "7"), "quantity"] == 0.0
    assert len(daily) == 5  # 4 transaction days, one replaced by its total, plus one new total
