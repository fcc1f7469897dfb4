"""Shopify "Export orders" CSVs recognised without a mapping (issue 10).

The real shared export goes through the real ingestion path once; the expectations are
computed here with plain pandas from the raw file. Small hand-made exports pin each rule.
"""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.ingest import formats
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import SHARED_DATA

SHOPIFY = SHARED_DATA / "shopify" / "orders_export.csv"
HEADER = ("Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,"
          "Lineitem discount,Cancelled at,Refunded Amount,Payment Method,Billing Name,Billing City,Billing Country")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(SHOPIFY, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    layout = DataLayout(tmp_path_factory.mktemp("shopify") / "data").ensure()
    result = ingest_file(SHOPIFY, layout)
    store = TableStore(layout.store)
    return result, store.read("transactions"), store.read("products"), store.read("customers")


def _order_level(raw: pd.DataFrame, column: str) -> pd.Series:
    """An order-level field on every line of its order (plain pandas, per order)."""
    return raw[column].replace("", np.nan).groupby(raw["Name"]).transform("first").fillna("")


def test_the_real_export_is_recognised_and_accepted(ingested, raw):
    result, tx, products, customers = ingested
    assert result.status == "accepted", result.problems[:3]
    assert result.format == "shopify (csv)"
    assert raw.shape == (40, 79) and raw["Name"].nunique() == 19
    status = _order_level(raw, "Financial Status")
    void = status.isin(["voided", "expired"]) | ((_order_level(raw, "Cancelled at") != "")
                                                 & status.isin(["", "pending", "authorized"]))
    refunded = status == "refunded"
    assert len(tx) == len(raw) + int(refunded.sum())
    assert int((tx["line_type"] == "void").sum()) == int(void.sum())
    assert int(tx["line_type"].isin(["return", "cancellation"]).sum()) == int(refunded.sum())
    units = raw["Lineitem quantity"].astype(int)
    assert int(tx.loc[tx["line_type"] != "void", "quantity"].sum()) == int(units[~void].sum() - units[refunded].sum())
    emails = set(raw.loc[raw["Email"] != "", "Email"].str.lower())
    assert set(customers["customer_id"]) == emails and len(emails) == 3
    product = raw["Lineitem sku"].where(raw["Lineitem sku"] != "", raw["Lineitem name"])
    assert set(products["product_id"]) == set(product[~void & (raw["Lineitem price"].astype(float) > 0)])


def test_lines_of_the_real_export(ingested, raw):
    _, tx, products, customers = ingested
    tx = tx.set_index("transaction_id")
    first = raw[raw["Name"] == "#1001"]
    assert [f"#1001-{n}" for n in range(1, len(first) + 1)] == [t for t in tx.index if t.startswith("#1001-")]
    line = tx.loc["#1001-3"]
    assert line["product_id"] == first["Lineitem name"].iloc[2] and line["actual_price"] == 600.0
    assert line["transaction_date"] == pd.Timestamp(first["Created at"].iloc[2][:19])  # local wall time
    assert line["payment_method"] == "manual" and line["order_status"] == "paid"  # filled down
    assert tx.loc["#1006-2", "product_id"] == "sku-untracked-1"  # the sku when there is one
    assert tx.loc["#1008-4", "customer_id"] == "russel.winfield@example.com"
    assert pd.isna(tx.loc["#1001-1", "customer_id"])  # no email: a guest
    assert tx.loc["#1013-1", "line_type"] == "sale"  # pending payment: still an order to fill
    people = customers.set_index("customer_id")
    assert people.loc["russel.winfield@example.com", "customer_name"] == "Russell Winfield"
    assert people.loc["karine.ruby@example.com", "city"] == "Ottawa"
    assert people.loc["karine.ruby@example.com", "country"] == "CA"
    gift = products.set_index("product_id").loc["Gift Card - $10"]
    prices = raw.loc[raw["Lineitem name"] == "Gift Card - $10", "Lineitem price"].astype(float)
    assert gift["standard_price"] == prices.value_counts().idxmax() and gift["product_name"] == "Gift Card - $10"


def _ingest(tmp_path, rows):
    path = tmp_path / "orders_export.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    layout = DataLayout(tmp_path / "data").ensure()
    result = ingest_file(path, layout)
    assert result.status == "accepted", result.problems
    assert result.format == "shopify (csv)"
    return TableStore(layout.store).read("transactions").set_index("transaction_id"), layout


def test_order_fields_are_filled_down_within_an_order_only(tmp_path):
    tx, _ = _ingest(tmp_path, [
        "#1,a@x.com,paid,2025-05-11 09:55:16 -0400,1,Board,100.00,B1,0.00,,,card,Ann Lee,Oslo,NO",
        "#1,,,2025-05-11 09:55:16 -0400,2,Wax,10.00,,0.00,,,,,,",
        "#2,,,2025-05-12 10:00:00 -0400,1,Wax,10.00,,0.00,,,,,,",
    ])
    assert tx.loc["#1-2", "payment_method"] == "card" and tx.loc["#1-2", "customer_id"] == "a@x.com"
    assert pd.isna(tx.loc["#2-1", "payment_method"]) and pd.isna(tx.loc["#2-1", "customer_id"])
    assert tx.loc["#1-2", "product_id"] == "Wax" and tx.loc["#1-1", "product_id"] == "B1"
    assert tx["line_type"].tolist() == ["sale", "sale", "sale"]


def test_voided_orders_are_kept_as_void_lines(tmp_path):
    orders = [f"#{n},c{n}@x.com,voided,2025-05-1{n} 09:00:00 -0400,1,Board,100.00,,0.00,,,card,,," for n in range(1, 7)]
    orders.append("#7,c7@x.com,pending,2025-05-17 09:00:00 -0400,1,Board,100.00,,0.00,2025-05-17 10:00:00 -0400,,,,,")
    orders.append("#8,c8@x.com,paid,2025-05-18 09:00:00 -0400,2,Board,100.00,,0.00,,,card,,,")
    tx, layout = _ingest(tmp_path, orders)
    assert (tx.loc[[f"#{n}-1" for n in range(1, 8)], "line_type"] == "void").all()
    assert tx.loc["#8-1", "line_type"] == "sale"
    assert int(tx.loc[tx["line_type"] != "void", "quantity"].sum()) == 2
    assert (tx["quantity"] > 0).all()


def test_refunded_orders_keep_the_sale_and_add_a_line_coming_back(tmp_path):
    tx, _ = _ingest(tmp_path, [
        "#1,a@x.com,refunded,2025-05-11 09:55:16 -0400,2,Board,100.00,,20.00,,200.00,card,,,",
        "#1,,,2025-05-11 09:55:16 -0400,1,Wax,10.00,,0.00,,,,,,",
        "#2,b@x.com,refunded,2025-05-12 08:00:00 -0400,1,Wax,10.00,,0.00,2025-05-14 12:30:00 -0400,10.00,card,,,",
        "#3,c@x.com,partially_refunded,2025-05-13 08:00:00 -0400,3,Wax,10.00,,0.00,,10.00,card,,,",
    ])
    assert sorted(tx.index) == ["#1-1", "#1-1-refund", "#1-2", "#1-2-refund", "#2-1", "#2-1-refund", "#3-1"]
    assert tx.loc["#1-1", "actual_price"] == 90.0  # 100.00 less the line discount 20.00 over 2 units
    back = tx.loc["#1-1-refund"]
    assert (back["line_type"], back["quantity"], back["actual_price"]) == ("return", -2, 90.0)
    assert back["transaction_date"] == pd.Timestamp("2025-05-11 09:55:16")
    assert tx.loc["#1-2-refund", "quantity"] == -1 and tx.loc["#1-2", "line_type"] == "sale"
    cancelled = tx.loc["#2-1-refund"]
    assert cancelled["line_type"] == "cancellation"
    assert cancelled["transaction_date"] == pd.Timestamp("2025-05-14 12:30:00")
    partial = tx.loc["#3-1"]
    assert (partial["line_type"], partial["quantity"], partial["refunded_amount"]) == ("sale", 3, "10.00")
    net = tx.loc[tx["line_type"] != "void", "quantity"].sum()
    assert net == 3  # orders #1 and #2 came back whole


def test_line_keys_are_stable_across_re_exports(tmp_path):
    rows = ["#1,a@x.com,paid,2025-05-11 09:55:16 -0400,2,Board,100.00,,0.00,,,card,,,",
            "#1,,,2025-05-11 09:55:16 -0400,1,Wax,10.00,,0.00,,,,,,"]
    tx, layout = _ingest(tmp_path, rows)
    again = tmp_path / "again.csv"
    again.write_text("\n".join([HEADER, rows[0].replace(",paid,", ",refunded,"), rows[1]]) + "\n")
    assert ingest_file(again, layout).status == "accepted"
    tx = TableStore(layout.store).read("transactions").set_index("transaction_id")
    assert sorted(tx.index) == ["#1-1", "#1-1-refund", "#1-2", "#1-2-refund"]
    assert tx.loc["#1-1", "order_status"] == "refunded"


def test_recognition_needs_the_line_item_columns():
    assert formats.recognise(HEADER.split(",")).format == "shopify"
    assert formats.recognise(["Name", "Email", "Financial Status", "Created at"]) is None
