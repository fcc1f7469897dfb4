"""A corpus of broken uploads: each is quarantined with a reason and changes nothing."""

import gzip
import io
import json
import random

import openpyxl
import pandas as pd
import pytest

from retail_pipeline.ingest.ingest import REJECTED, check_file, ingest_file
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import GOOD_TX, TX_HEADER, TX_ROWS, drop, store_fingerprint, tx_csv


def _xlsx(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _garbage() -> bytes:
    rng = random.Random(3)
    return bytes(rng.randrange(256) for _ in range(4000)) + b"\x00\x00"


def _zip_not_xlsx() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return out.getvalue()


def _woo_without_quantity() -> bytes:
    header = "order_id,order_date,status,payment_method,customer_email,line_item_1"
    row = '1,16-05-2018 07:32:06,completed,cod,a@example.com,"name:Shoe|product_id:13|total:8.00"'
    return f"{header}\n{row}\n".encode()


TX_LIST = [r.split(",") for r in TX_ROWS]
BAD = {
    # name: (file name, bytes, words the reason must contain, row the first problem names)
    "empty file": ("empty.csv", b"", "the file is empty", None),
    "whitespace only": ("blank.csv", b"  \n\n \r\n", "the file is empty", None),
    "header only": ("header.csv", tx_csv(), "no data rows", None),
    "wrong delimiter": ("semi.csv", tx_csv(*[r.replace(",", ";") for r in TX_ROWS],
                                           header=TX_HEADER.replace(",", ";")), "delimiter looks like ';'", 1),
    "missing required column": ("noqty.csv", tx_csv(*[",".join(r[:4] + r[5:]) for r in TX_LIST],
                                                    header=TX_HEADER.replace("quantity,", "")),
                                "required column 'quantity' is missing", 1),
    "non-numeric quantity": ("qty.csv", tx_csv(TX_ROWS[0], TX_ROWS[1].replace(",1,", ",two,")),
                             "quantity is not a number", 3),
    "negative price": ("price.csv", tx_csv(TX_ROWS[0], TX_ROWS[1], TX_ROWS[2].replace("9.99", "-9.99")),
                       "actual_price must be at least 0", 4),
    "unparseable date": ("date.csv", tx_csv(TX_ROWS[0].replace("2024-01-05", "2024-13-45")),
                         "transaction_date is not a date", 2),
    "duplicate keys in the file": ("dup.csv", tx_csv(TX_ROWS[0], TX_ROWS[1], TX_ROWS[0].replace("C1", "C9")),
                                   "duplicate key: already used on row 2", 4),
    "truncated last line": ("cut.csv", GOOD_TX[: GOOD_TX.rindex(b",P1,") + 4], "truncated last line", 4),
    "binary garbage named .csv": ("garbage.csv", _garbage(), "binary, not text: NUL byte at byte offset "
                                  f"{_garbage().find(0)}", _garbage().count(b"\n", 0, _garbage().find(0)) + 1),
    "non-UTF-8": ("latin1.csv", tx_csv(TX_ROWS[0], TX_ROWS[1].replace("cash", "espèces")).decode()
                  .encode("latin-1"), "not UTF-8: byte 0xE8", 3),
    "xlsx without a usable sheet": ("book.xlsx", _xlsx({"Notes": [["hello", "world"], [1, 2]], "Empty": []}),
                                    "no usable sheet", None),
    "gzip that is not gzip": ("tx.csv.gz", tx_csv(TX_ROWS[2]), "not gzip", None),
    # our own
    "ragged row in the middle": ("ragged.csv", tx_csv(TX_ROWS[0], TX_ROWS[1] + ",extra", TX_ROWS[2]),
                                 "row has 9 fields but the header has 8", 3),
    "unrecognised header": ("other.csv", b"a,b,c\n1,2,3\n", "unrecognised header", 1),
    "zero quantity": ("zero.csv", tx_csv(TX_ROWS[0].replace(",2,", ",0,")), "quantity must not be 0", 2),
    "fractional quantity": ("half.csv", tx_csv(TX_ROWS[0].replace(",2,", ",1.5,")), "must be a whole number", 2),
    "absurd quantity": ("huge.csv", tx_csv(TX_ROWS[0].replace(",2,", ",999999,")), "quantity must be at most", 2),
    "empty product id": ("noprod.csv", tx_csv(TX_ROWS[0], TX_ROWS[1].replace("P2", "")),
                         "product_id must not be empty", 3),
    "damaged gzip": ("cut.csv.gz", gzip.compress(GOOD_TX * 50)[:120], "gzip data is damaged", None),
    "UTF-16 text": ("utf16.csv", GOOD_TX.decode().encode("utf-16"), "UTF-16", None),
    "unclosed quote at the end": ("quote.csv", tx_csv(TX_ROWS[0]) + b'T9,C1,P1,S1,1,2.0,2024-01-01,"card',
                                  "unclosed quote", 3),
    "header names a column twice": ("twice.csv", tx_csv(TX_ROWS[0] + ",x", header=TX_HEADER + ",shop_id"),
                                    "appears more than once", 1),
    "PDF named .csv": ("report.csv", b"%PDF-1.4\n%binary\n", "PDF", None),
    "zip that is not a workbook": ("archive.xlsx", _zip_not_xlsx(), "not a readable .xlsx", None),
    "daily sales with negative sales": ("train.csv", b"date,store,item,sales\n2013-01-01,1,1,13\n2013-01-02,1,1,-2\n",
                                        "quantity must be at least 0", 3),
    # openpyxl saves a formula without its value: never stored as the formula's text
    "xlsx formula without a saved value": ("book.xlsx", _xlsx({
        "Notes": [["just notes"]],
        "Sales": [TX_HEADER.split(","), TX_LIST[0], TX_LIST[1][:7] + ["=SUM(A1)"], TX_LIST[2]]}),
        "a formula without a saved value", 3),
    "xlsx with a bad price": ("prices.xlsx", _xlsx({"Sales": [TX_HEADER.split(","), TX_LIST[0],
                                                              TX_LIST[1][:5] + ["abc"] + TX_LIST[1][6:]]}),
                              "actual_price is not a number", 3),
    "WooCommerce item without quantity": ("orders.csv", _woo_without_quantity(),
                                          "line item needs a numeric quantity", 2),
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> DataLayout:
    """A data folder that already holds one accepted upload."""
    layout = DataLayout(tmp_path_factory.mktemp("baseline") / "data").ensure()
    result = ingest_file(drop(layout, "first.csv", GOOD_TX), layout)
    assert result.status == "accepted"
    return layout


@pytest.fixture
def data(baseline, tmp_path) -> DataLayout:
    import shutil

    shutil.copytree(baseline.root, tmp_path / "data")
    return DataLayout(tmp_path / "data")


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_file_is_quarantined_and_nothing_changes(case, data):
    name, content, words, row = BAD[case]
    before = store_fingerprint(data.store)
    path = drop(data, name, content)

    checked = check_file(path)
    assert not checked.accepted
    result = ingest_file(path, data)

    assert result.status == REJECTED
    assert store_fingerprint(data.store) == before
    assert not path.exists() and list(data.incoming.iterdir()) == []
    assert (data.quarantine / name).read_bytes() == content
    report = json.loads((data.quarantine / f"{name}.error.json").read_text())
    assert report["file"] == name and report["total"] >= 1
    rules = " | ".join(p["rule"] for p in report["problems"])
    assert words in rules, rules
    assert words in report["summary"] or report["total"] > 5
    assert report["problems"][0]["row"] == row
    assert checked.problems == result.problems


def test_many_problems_report_first_twenty_and_the_total(data):
    rows = [f"T{i},C1,P1,S1,{i}.5,1.0,2024-01-01,card" for i in range(1, 36)]
    result = ingest_file(drop(data, "many.csv", tx_csv(*rows)), data)
    assert result.status == REJECTED and result.total_problems == 35
    assert len(result.problems) == 20
    assert [p.row for p in result.problems] == list(range(2, 22))
    assert "... and 30 more" in result.summary


def test_mapping_problems_are_reported_before_reading(tmp_path):
    from retail_pipeline.contract import ContractError

    mapping = tmp_path / "m.yaml"
    mapping.write_text("entity: transactions\ncolumns:\n  Id: transaction_id\n  Qty: amount\n")
    with pytest.raises(ContractError) as error:
        check_file(tmp_path / "unused.csv", mapping)
    rules = " | ".join(p.rule for p in error.value.problems)
    assert "'amount' is not a column of transactions" in rules
    assert "required column 'product_id' of transactions has no export column or constant" in rules


FINE = {
    "UTF-8 BOM": b"\xef\xbb\xbf" + GOOD_TX,
    "Windows line endings": tx_csv(*TX_ROWS, newline="\r\n"),
    "extra unknown columns": tx_csv(*[r + ",note" for r in TX_ROWS], header=TX_HEADER + ",remark"),
    "quoted line breaks": tx_csv(TX_ROWS[0], TX_ROWS[1].replace("cash", '"cash\nat the till"'), TX_ROWS[2]),
    "formula-looking text": tx_csv(TX_ROWS[0], TX_ROWS[1].replace("cash", "=SUM(A1)"), TX_ROWS[2]),
    "blank line in the middle": tx_csv(TX_ROWS[0], "", TX_ROWS[1], TX_ROWS[2]),
    "gzip-compressed": gzip.compress(GOOD_TX),
}
EXPECTED_PAYMENT = {"quoted line breaks": "cash\nat the till", "formula-looking text": "=SUM(A1)"}


@pytest.mark.parametrize("case", list(FINE), ids=list(FINE))
def test_fine_file_is_accepted(case, layout):
    suffix = ".xlsx" if "xlsx" in case else ".csv.gz" if "gzip" in case else ".csv"
    content = FINE[case]
    result = ingest_file(drop(layout, f"upload{suffix}", content), layout)
    assert result.status == "accepted", result.summary
    table = TableStore(layout.store).read("transactions").set_index("transaction_id")
    assert list(table.index) == ["T1", "T2", "T3"]
    assert table.loc["T2", "payment_method"] == EXPECTED_PAYMENT.get(case, "cash")
    assert table.loc["T1", "actual_price"] == 9.99 and table.loc["T3", "quantity"] == 3
    assert pd.isna(table.loc["T2", "customer_id"])
    assert table.loc["T1", "transaction_date"] == pd.Timestamp("2024-01-05 10:30:00")
    if case == "extra unknown columns":
        assert table["remark"].tolist() == ["note"] * 3
    assert (layout.archive / f"upload{suffix}").read_bytes() == content
