"""WooCommerce orders that never became sales, or came back, are kept and typed (issue 10)."""

import pandas as pd

from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import WOOCOMMERCE, woocommerce_line_items

HEADER = "order_id,order_date,status,payment_method,customer_email,billing_first_name,refund_items,line_item_1,line_item_2"
SHOE = "name:Shoe|product_id:13|sku:A12|quantity:2|total:16.00|tax:1.44"
SOCK = "name:Sock|product_id:14|sku:A13|quantity:1|total:3.00|tax:0.54"


def _ingest(tmp_path, rows):
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    layout = DataLayout(tmp_path / "data").ensure()
    result = ingest_file(path, layout)
    assert result.status == "accepted", result.problems
    assert result.format == "woocommerce (csv)"
    return TableStore(layout.store).read("transactions").set_index("transaction_id")


def test_orders_that_never_sold_are_void_lines(tmp_path):
    statuses = ["cancelled", "failed", "pending", "checkout-draft", "trash", "completed"]
    rows = [f'{n},16-05-2018 07:32:06,{status},cod,c{n}@x.com,Ann,,"{SHOE}",' for n, status in enumerate(statuses, 1)]
    tx = _ingest(tmp_path, rows)
    assert len(tx) == len(statuses)  # kept, not skipped
    assert tx["line_type"].tolist() == ["void"] * 5 + ["sale"]
    assert tx["order_status"].tolist() == statuses
    assert int(tx.loc[tx["line_type"] != "void", "quantity"].sum()) == 2


def test_a_refunded_order_keeps_its_sale_and_adds_a_return(tmp_path):
    tx = _ingest(tmp_path, [
        f'7,16-05-2018 07:32:06,refunded,paypal,a@x.com,Ann,amount:19.00|reason:broken|date:2019-06-19 12:13:48,"{SHOE}","{SOCK}"',
        f'8,17-05-2018 09:00:00,refunded,,b@x.com,Bo,,"{SOCK}",',
    ])
    assert sorted(tx.index) == ["7-1", "7-1-refund", "7-2", "7-2-refund", "8-1", "8-1-refund"]
    sale, back = tx.loc["7-1"], tx.loc["7-1-refund"]
    assert (sale["line_type"], sale["quantity"], sale["actual_price"]) == ("sale", 2, 8.0)
    assert (back["line_type"], back["quantity"], back["actual_price"]) == ("return", -2, 8.0)
    assert back["transaction_date"] == pd.Timestamp("2019-06-19 12:13:48")  # the refund's date
    assert tx.loc["8-1-refund", "transaction_date"] == pd.Timestamp("2018-05-17 09:00:00")  # no refund date
    assert pd.isna(tx.loc["8-1", "payment_method"])  # not given: empty, not a made-up value
    assert tx["quantity"].sum() == 0  # everything came back


def test_the_real_sample_is_all_sales(tmp_path):
    raw = pd.read_csv(WOOCOMMERCE, dtype=str, keep_default_na=False)
    layout = DataLayout(tmp_path / "data").ensure()
    assert ingest_file(WOOCOMMERCE, layout).status == "accepted"
    tx = TableStore(layout.store).read("transactions")
    items = list(woocommerce_line_items(WOOCOMMERCE))
    assert len(tx) == len(items)
    assert set(raw["status"]) == {"completed", "on-hold", "processing"}  # no void or refunded order
    assert (tx["line_type"] == "sale").all()
    assert int(tx["quantity"].sum()) == sum(int(item["quantity"]) for _, _, item in items)
