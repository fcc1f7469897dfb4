"""Real exports end to end: the store-item file, the WooCommerce sample, a mapped export, the CLI."""

import csv
import gzip
import io
import itertools
import shutil

import pandas as pd
import typer
from typer.testing import CliRunner

from retail_pipeline.cli.ingest import register
from retail_pipeline.ingest.ingest import check_file, ingest_file, ingest_pending
from retail_pipeline.ingest.store import TableStore

from .helpers import FILES, GOOD_TX, STORE_ITEM, WOOCOMMERCE, drop, woocommerce_line_items

SLICE = 20_000


def test_store_item_slice_ingests_as_daily_totals(layout):
    with gzip.open(STORE_ITEM, "rt", newline="") as handle:
        lines = list(itertools.islice(handle, SLICE + 1))
    drop(layout, "train.csv.gz", gzip.compress("".join(lines).encode()))
    records = list(csv.DictReader(io.StringIO("".join(lines))))

    [result] = ingest_pending(layout, settle_seconds=0)
    assert result.status == "accepted" and result.format == "daily_sales (csv+gzip)"
    table = TableStore(layout.store).read("daily_totals")
    assert len(table) == SLICE
    assert int(table["quantity"].sum()) == sum(int(r["sales"]) for r in records)
    assert set(table["shop_id"]) == {r["store"] for r in records}
    assert set(table["product_id"]) == {r["item"] for r in records}
    first = records[0]
    row = table.iloc[0]
    assert (row["date"], row["shop_id"], row["product_id"], row["quantity"]) == (
        pd.Timestamp(first["date"]), first["store"], first["item"], int(first["sales"]))


def test_woocommerce_sample_becomes_transactions_and_customers(layout):
    shutil.copy(WOOCOMMERCE, layout.incoming / WOOCOMMERCE.name)
    expected = {
        f"{order['order_id']}-{n}": (item["product_id"], int(item["quantity"]),
                                     float(item["total"]) / int(item["quantity"]), order["payment_method"],
                                     order["customer_email"] or order["billing_email"])
        for order, n, item in woocommerce_line_items(WOOCOMMERCE)
    }

    [result] = ingest_pending(layout, settle_seconds=0)
    assert result.status == "accepted", result.summary
    table = TableStore(layout.store).read("transactions").set_index("transaction_id")
    assert len(table) == len(expected) == 5
    for tid, (product, quantity, price, payment, customer) in expected.items():
        got = table.loc[tid]
        assert (got["product_id"], got["quantity"], got["payment_method"], got["customer_id"]) == (
            product, quantity, payment, customer)
        assert got["actual_price"] == price and got["shop_id"] == "web"
    assert table.loc["1001-1", "transaction_date"] == pd.Timestamp("2018-05-16 07:32:06")
    customers = TableStore(layout.store).read("customers").set_index("customer_id")
    assert customers.loc["john@example.com", "customer_name"] == "John Edward"
    assert customers.loc["john@example.com", "city"] == "Seattle"


def test_mapped_export_with_semicolons_cp1252_and_decimal_commas(layout):
    mapping = FILES / "kasse_mapping.yaml"
    checked = check_file(FILES / "kasse_export.csv", mapping)
    assert checked.accepted, checked.summary()
    result = ingest_file(FILES / "kasse_export.csv", layout, mapping=mapping)
    assert result.status == "accepted" and result.format == "mapping (csv)"
    assert (FILES / "kasse_export.csv").exists()  # files outside incoming/ are copied, not moved
    table = TableStore(layout.store).read("transactions").set_index("transaction_id")
    assert table.loc["B-1002", "actual_price"] == 1234.5
    assert table.loc["B-1001", "quantity"] == 6 and pd.isna(table.loc["B-1001", "customer_id"])
    assert table.loc["B-1003", "transaction_date"] == pd.Timestamp("2024-01-03 17:40")
    assert set(table["shop_id"]) == {"berlin-01"}
    assert table.loc["B-1002", "Bezeichnung"] == "Käse"  # unmapped columns kept as text
    assert check_file(FILES / "kasse_export.csv").accepted is False  # not a known format alone


def test_cli_check_ingest_and_backups(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(GOOD_TX)
    bad.write_bytes(GOOD_TX.replace(b",2,", b",two,"))

    ok = runner.invoke(app, ["check", str(good)])
    assert ok.exit_code == 0 and "3 transactions" in ok.output and "would be accepted" in ok.output
    rejected = runner.invoke(app, ["check", str(bad)])
    assert rejected.exit_code == 1 and "row 2" in rejected.output and "quantity is not a number" in rejected.output
    assert not (tmp_path / "data" / "store").exists()  # check writes nothing

    assert runner.invoke(app, ["ingest", str(good)]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(bad)]).exit_code == 1
    assert (tmp_path / "data" / "quarantine" / "bad.csv.error.json").exists()
    listing = runner.invoke(app, ["backups", "list"])
    assert listing.exit_code == 0 and "before ingesting good.csv" in listing.output
    backup_id = next((tmp_path / "data" / "backups").iterdir()).name
    assert runner.invoke(app, ["backups", "restore", backup_id]).exit_code == 0
    assert not TableStore(tmp_path / "data" / "store").exists("transactions")
    assert runner.invoke(app, ["backups", "restore", "nope"]).exit_code == 1
