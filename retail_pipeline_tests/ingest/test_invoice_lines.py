"""Invoice-line exports (Online Retail II) recognised without a mapping (issue 10).

The real shared file goes once through the real ingestion path; every expected count is
computed here with plain pandas from the raw file.
"""

import pandas as pd
import pytest

from retail_pipeline.ingest import formats
from retail_pipeline.ingest.ingest import check_file, ingest_file
from retail_pipeline.ingest.reader import read_upload
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import SHARED_DATA

ONLINE_RETAIL = SHARED_DATA / "online_retail" / "online_retail_II_2009_2010.csv.gz"
HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    layout = DataLayout(tmp_path_factory.mktemp("online_retail") / "data").ensure()
    result = ingest_file(ONLINE_RETAIL, layout)
    store = TableStore(layout.store)
    return result, store.read("transactions"), store.read("products"), store.read("customers")


def _expected(raw: pd.DataFrame) -> dict:
    quantity = raw["Quantity"].astype(int)
    price = raw["Price"].astype(float)
    credit = raw["Invoice"].str.startswith("C")
    bad_debt = raw["Invoice"].str.startswith("A") & (price < 0)
    void = (credit & (quantity > 0)) | (~credit & (quantity < 0))
    sale = ~credit & (quantity > 0) & ~bad_debt
    customers = raw.loc[raw["Customer ID"] != "", "Customer ID"].astype(float).astype(int).astype(str)
    return {
        "lines": int((~bad_debt).sum()),
        "cancellations": int((credit & (quantity < 0)).sum()),
        "voids": int(void.sum()),
        "net_units": int(quantity[~void & ~bad_debt].sum()),
        "customers": set(customers),
        "products": set(raw.loc[sale & (price > 0), "StockCode"].str.strip()),  # ids are stored stripped
    }


def test_online_retail_is_recognised_and_accepted_whole(ingested):
    result, transactions, _, _ = ingested
    assert result.status == "accepted", result.problems[:3]
    assert result.format == "invoice_lines (csv+gzip)"
    assert set(result.rows) == {"transactions", "products", "customers"}


def test_every_line_is_kept_with_its_type(ingested, raw):
    expected = _expected(raw)
    _, tx, _, _ = ingested
    assert len(tx) == expected["lines"] == len(raw) - 3  # the 3 "Adjust bad debt" lines are left out
    assert tx["transaction_id"].is_unique
    counts = tx["line_type"].value_counts()
    assert counts["cancellation"] == expected["cancellations"]
    assert counts["void"] == expected["voids"]
    assert counts["sale"] == expected["lines"] - expected["cancellations"] - expected["voids"]
    assert "return" not in counts  # stock write-offs are not customer returns
    assert int(tx.loc[tx["line_type"] != "void", "quantity"].sum()) == expected["net_units"]
    assert (tx.loc[tx["line_type"] == "cancellation", "quantity"] < 0).all()
    assert set(tx["shop_id"]) == {"online"} and tx["payment_method"].isna().all()


def test_exact_duplicate_lines_are_kept_under_distinct_keys(ingested, raw):
    _, tx, _, _ = ingested
    repeats = int(raw.duplicated().sum())
    assert repeats == 6865
    content = ["invoice", "product_id", "product_name", "quantity", "transaction_date", "actual_price",
               "customer_id", "country"]
    kept = tx[tx["invoice"].str[:1] != "A"]
    assert int(kept[content].duplicated().sum()) == repeats


def test_line_keys_are_invoice_and_position(ingested, raw):
    _, tx, _, _ = ingested
    first = raw[raw["Invoice"] == raw["Invoice"].iloc[0]]
    got = tx.set_index("transaction_id")
    for n, (_, line) in enumerate(first.iterrows(), start=1):
        row = got.loc[f"{line['Invoice']}-{n}"]
        assert row["product_id"] == line["StockCode"]
        assert row["quantity"] == int(line["Quantity"]) and row["actual_price"] == float(line["Price"])
        assert row["transaction_date"] == pd.Timestamp(line["InvoiceDate"])
        assert row["customer_id"] == line["Customer ID"].removesuffix(".0")
        assert row["country"] == line["Country"]


def test_walk_in_lines_keep_an_empty_customer(ingested, raw):
    _, tx, _, _ = ingested
    bad_debt = raw["Invoice"].str.startswith("A") & (raw["Price"].astype(float) < 0)
    assert int(tx["customer_id"].isna().sum()) == int(((raw["Customer ID"] == "") & ~bad_debt).sum())


def test_products_and_customers_are_built_from_the_lines(ingested, raw):
    expected = _expected(raw)
    _, tx, products, customers = ingested
    assert set(products["product_id"]) == expected["products"]
    assert set(customers["customer_id"]) == expected["customers"]
    assert products["product_id"].is_unique and customers["customer_id"].is_unique
    # a product's standard price is its most common positive price on sale lines
    code = "85123A"
    sold = raw[(raw["StockCode"] == code) & ~raw["Invoice"].str.startswith("C")
               & (raw["Quantity"].astype(int) > 0) & (raw["Price"].astype(float) > 0)]
    row = products.set_index("product_id").loc[code]
    assert row["standard_price"] == sold["Price"].astype(float).value_counts().idxmax()
    assert row["product_name"] == sold["Description"].str.strip().value_counts().idxmax()
    assert pd.isna(row["category"])
    # a customer's country is the one on their latest line
    people = raw[raw["Customer ID"] != ""]
    latest = people.drop_duplicates("Customer ID", keep="last").set_index("Customer ID")["Country"]
    got = customers.set_index("customer_id")["country"]
    assert all(got[cid.removesuffix(".0")] == country for cid, country in latest.items())


def _invoice_file(path, rows, header=HEADER):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_cancellations_write_offs_and_bad_debt_on_a_small_file(tmp_path):
    path = _invoice_file(tmp_path / "lines.csv", [
        "500001,85048,GLASS BALL,12,2010-01-04 10:00:00,6.95,13085.0,United Kingdom",
        "500001,79323P,PINK LIGHTS,6,2010-01-04 10:00:00,6.75,13085.0,United Kingdom",
        "C500002,85048,GLASS BALL,-2,2010-01-05 11:00:00,6.95,13085.0,United Kingdom",
        "500003,21733,damages,-96,2010-01-05 12:00:00,0.0,,United Kingdom",
        "C500004,M,Manual,1,2010-01-06 08:24:00,373.57,,United Kingdom",
        "A500005,B,Adjust bad debt,1,2010-01-07 13:36:00,-53594.36,,United Kingdom",
        "500006,22041,RECORD FRAME,48,2010-01-07 14:00:00,0.0,12682.0,France",
    ])
    layout = DataLayout(tmp_path / "data").ensure()
    result = ingest_file(path, layout)
    assert result.status == "accepted", result.problems
    tx = TableStore(layout.store).read("transactions").set_index("transaction_id")
    assert list(tx.index) == ["500001-1", "500001-2", "C500002-1", "500003-1", "C500004-1", "500006-1"]
    assert tx["line_type"].to_dict() == {
        "500001-1": "sale", "500001-2": "sale", "C500002-1": "cancellation", "500003-1": "void",
        "C500004-1": "void", "500006-1": "sale"}
    assert tx.loc["C500002-1", "quantity"] == -2
    assert tx.loc["500006-1", "actual_price"] == 0.0  # a line at price 0 stays a sale at 0
    assert tx.loc["500001-1", "customer_id"] == "13085" and pd.isna(tx.loc["500003-1", "customer_id"])
    products = TableStore(layout.store).read("products").set_index("product_id")
    assert sorted(products.index) == ["79323P", "85048"]  # sold at a positive price
    assert products.loc["85048", "standard_price"] == 6.95
    customers = TableStore(layout.store).read("customers").set_index("customer_id")
    assert customers["country"].to_dict() == {"13085": "United Kingdom", "12682": "France"}


def test_a_re_export_replaces_its_lines(tmp_path):
    lines = ["500001,85048,GLASS BALL,12,2010-01-04 10:00:00,6.95,13085.0,United Kingdom",
             "500001,85048,GLASS BALL,12,2010-01-04 10:00:00,6.95,13085.0,United Kingdom",
             "500002,22041,RECORD FRAME,48,2010-01-07 14:00:00,2.1,,United Kingdom"]
    layout = DataLayout(tmp_path / "data").ensure()
    assert ingest_file(_invoice_file(tmp_path / "a.csv", lines), layout).status == "accepted"
    corrected = [lines[0], lines[1].replace(",12,", ",10,"), lines[2]]
    assert ingest_file(_invoice_file(tmp_path / "b.csv", corrected), layout).status == "accepted"
    tx = TableStore(layout.store).read("transactions").set_index("transaction_id")
    assert sorted(tx.index) == ["500001-1", "500001-2", "500002-1"]
    assert tx.loc["500001-2", "quantity"] == 10


def test_older_uci_column_names_are_recognised(tmp_path):
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    path = _invoice_file(tmp_path / "uci.csv", [
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
        "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom"], header)  # the Kaggle copy's dates
    checked = check_file(path)
    assert checked.accepted and checked.format == "invoice_lines (csv)", checked.summary()
    tx = read_upload(path.read_bytes(), path.name).tables["transactions"]
    assert list(tx["transaction_id"]) == ["536365-1", "C536379-1"]
    assert list(tx["line_type"]) == ["sale", "cancellation"]
    assert list(tx["customer_id"]) == ["17850", "14527"]
    assert list(tx["actual_price"]) == [2.55, 27.5]
    assert list(tx["transaction_date"]) == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-01 09:41")]


def test_a_header_without_a_price_is_not_invoice_lines():
    assert formats.invoice_line_roles(["Invoice", "StockCode", "Quantity", "InvoiceDate"]) is None
    assert formats.recognise(["Invoice", "StockCode", "Quantity", "InvoiceDate"]) is None
    assert formats.recognise(HEADER.split(",")).format == "invoice_lines"
