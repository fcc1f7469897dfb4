"""The fast (pyarrow) validation path against ``contract.validate``, the source of the rules.

On a file the contract accepts the fast path must give the very same table (values and
dtypes); on anything else it must step aside (return None) so that the problems are the
contract's, word for word. The fast reader must also keep the reader's order of checks
(bytes before header before rows) and its row numbers.
"""

import re

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.contract import ContractError, validate
from retail_pipeline.ingest import formats, sniff, tables
from retail_pipeline.ingest.fast_validate import validate_fast
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.reader import UploadRejected, read_upload
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import FILES, TX_HEADER, drop, tx_csv

QUOTED_HEADER = ",".join(f'"{name}"' for name in TX_HEADER.split(","))


def generated(rows: int = 3000, seed: int = 7, newline: str = "\n", header: str = TX_HEADER,
              spaces: bool = False, dates: str = "mixed") -> bytes:
    """Valid transactions: walk-ins (empty customer_id), date-times and dates, two extra
    columns (one sometimes empty), a BOM."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 3 * 365 * 86400, rows)
    stamps = np.datetime64("2022-01-01T00:00:00", "s") + seconds.astype("timedelta64[s]")
    text = pd.to_datetime(stamps)
    if dates == "dates":
        when = text.strftime("%Y-%m-%d")
    elif dates == "times":
        when = text.strftime("%Y-%m-%d %H:%M:%S")
    else:
        when = np.where(np.arange(rows) % 3 == 0, text.strftime("%Y-%m-%d"), text.strftime("%Y-%m-%d %H:%M:%S"))
    pad = " " if spaces else ""
    lines = [header + ",note,channel"]
    for i in range(rows):
        customer = "" if i % 9 == 0 else f"C{rng.integers(1, 500)}"
        lines.append(",".join([
            f"{pad}T{i + 1}", customer, f"P{rng.integers(1, 80)}{pad}", f"S{rng.integers(1, 6)}",
            str(rng.integers(1, 10)), f"{rng.uniform(0.5, 200):.2f}", f"{pad}{when[i]}",
            ["cash", "card", "mobile"][i % 3], "" if i % 4 else f"note {i}", "web" if i % 2 else "shop",
        ]))
    return b"\xef\xbb\xbf" + (newline.join(lines) + newline).encode("utf-8")


def text_part(raw: bytes, mapping: Mapping | None = None) -> formats.EntityFrame:
    """The upload's rows as text, as ``read_upload`` hands them to validation."""
    if mapping is not None:
        data = sniff.unpack(raw, "x.csv", mapping.encoding).data
        header = tables.first_record(data, mapping.delimiter)
        return mapping.apply(tables.read_csv(data, "x.csv", mapping.delimiter, header), "x.csv")
    data = sniff.strip_bom(sniff.unpack(raw, "x.csv").data)
    header = tables.first_record(data, ",")
    found = formats.recognise(header)
    raw_table = tables.read_csv(data, "x.csv", ",", header)
    return formats.canonical_frames(found, raw_table.frame, raw_table.row_numbers())[0]


def contract_outcome(part: formats.EntityFrame):
    """The contract's table, or what it raised: its problems, or (for a few dates pandas
    cannot hold, e.g. year 1600 or a UTC offset) another exception that the reader must
    raise just the same."""
    try:
        return validate(part.frame, part.entity, "x.csv", date_format=part.date_format, rows=part.rows)
    except Exception as exc:  # noqa: BLE001 (compared below, whatever it is)
        return exc


@pytest.mark.parametrize("variant", [
    {}, {"newline": "\r\n"}, {"header": QUOTED_HEADER}, {"spaces": True}, {"dates": "dates"}, {"dates": "times"},
], ids=["lf", "crlf", "quoted-header", "spaces", "dates", "date-times"])
def test_fast_path_gives_the_contract_table_on_a_valid_file(variant):
    part = text_part(generated(**variant))
    fast = validate_fast(part.frame, part.entity, part.date_format)
    assert fast is not None, "the fast path should confirm this valid file"
    slow = contract_outcome(part)
    assert isinstance(slow, pd.DataFrame)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert list(fast.columns)[-2:] == ["note", "channel"]
    assert fast["customer_id"].isna().sum() == len(fast[::9])
    assert read_upload(generated(**variant), "x.csv").tables["transactions"].equals(slow)


def test_accepted_upload_reads_back_from_the_store_with_the_same_dtypes(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    raw = generated(seed=11)
    result = ingest_file(drop(layout, "gen.csv", raw), layout)
    assert result.status == "accepted"
    expected = contract_outcome(text_part(raw))
    pd.testing.assert_frame_equal(TableStore(layout.store).read("transactions"), expected, check_exact=True)
    history = pd.read_parquet(layout.history / "transactions" / f"{result.upload_id}.parquet")
    pd.testing.assert_frame_equal(history.astype({"transaction_date": "datetime64[ns]"}), expected, check_exact=True)


def row(tid="T1", customer="C1", quantity="2", price="9.99", when="2024-01-05 10:30:00", pay="card"):
    return ",".join([tid, customer, "P1", "S1", quantity, price, when, pay])


# Each case: either the contract accepts it (then both paths give the same table) or it
# names problems (then the fast path must return None and the reader reports exactly them).
CASES = {
    "impossible date": tx_csv(row(when="2024-02-30 00:00:00")),
    "impossible day": tx_csv(row(when="2023-02-29")),
    "leap second": tx_csv(row(when="2024-01-05 23:59:60")),
    "hour 24": tx_csv(row(when="2024-01-05 24:00:00")),
    "month 13": tx_csv(row(when="2024-13-01")),
    "T separator": tx_csv(row(when="2024-01-05T10:30:00")),
    "unpadded date-time": tx_csv(row(when="2024-1-5 1:2:3")),
    "minutes only": tx_csv(row(when="2024-01-05 10:30")),
    "with offset": tx_csv(row(when="2024-01-05 10:30+01")),
    "fractional seconds": tx_csv(row(when="2024-01-05 10:30:00.5")),
    "day first": tx_csv(row(when="05/01/2024")),
    "far past": tx_csv(row(when="1600-01-01")),
    "far future": tx_csv(row(when="2300-01-01 00:00:00")),
    "before 1900": tx_csv(row(when="1850-01-01")),
    "after 2199": tx_csv(row(when="2250-01-01 10:00:00")),
    "empty date": tx_csv(row(), row(tid="T2", when="")),
    "quantity 1.0": tx_csv(row(quantity="1.0")),
    "quantity 1e2": tx_csv(row(quantity="1e2")),
    "quantity +3": tx_csv(row(quantity="+3")),
    "quantity hex": tx_csv(row(quantity="0x10")),
    "quantity half": tx_csv(row(quantity="1.5")),
    "quantity zero": tx_csv(row(quantity="0")),
    "quantity too big": tx_csv(row(quantity="100001")),
    "price inf": tx_csv(row(price="inf")),
    "price nan": tx_csv(row(price="nan")),
    "price NA": tx_csv(row(price="NA")),
    "price negative": tx_csv(row(price="-0.01")),
    "price .5": tx_csv(row(price=".5")),
    "price decimal comma": tx_csv(row(price='"1,5"')),
    "duplicate key": tx_csv(row(), row(customer="C2")),
    "duplicate key after strip": tx_csv(row(tid="T1"), row(tid=" T1 ")),
    "blank required": tx_csv(row(), row(tid="T2", pay="  ")),
    "tab around value": tx_csv(row(tid="\tT1", pay="card\t")),
    "no-break space around value": tx_csv(row(tid="\u00a0T1", pay="card\u3000")),
    "unit separator around value": tx_csv(row(tid="\x1fT1")),
    "zero-width space": tx_csv(row(tid="\u200bT1")),
    "blank line": tx_csv(row(), "", row(tid="T2", quantity="x")),
    "blank line, quoted header": tx_csv(row(), "", row(tid="T2", quantity="x"), header=QUOTED_HEADER),
    "row of empty fields": tx_csv(row(), ",,,,,,,"),
    "quoted value with a line break": tx_csv(row(pay='"ca\nrd"'), row(tid="T2", quantity="x")),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_fast_path_agrees_with_the_contract_or_defers(case):
    part = text_part(CASES[case])
    fast = validate_fast(part.frame, part.entity, part.date_format)
    slow = contract_outcome(part)
    if isinstance(slow, ContractError):
        assert fast is None
        with pytest.raises(UploadRejected) as rejected:
            read_upload(CASES[case], "x.csv")
        assert rejected.value.problems == slow.problems and rejected.value.total == slow.total
    elif isinstance(slow, Exception):
        assert fast is None
        with pytest.raises(type(slow), match="^" + re.escape(str(slow)) + "$"):
            read_upload(CASES[case], "x.csv")
    else:
        if fast is not None:
            pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        pd.testing.assert_frame_equal(read_upload(CASES[case], "x.csv").tables["transactions"], slow,
                                      check_exact=True)


@pytest.mark.parametrize("swap", [(b"02.01.2024 09:15", b"30.02.2024 09:15"), (b"02.01.2024 09:15", b"2.1.2024 9:15"),
                                  (b"", b"")], ids=["impossible", "unpadded", "as is"])
def test_fast_path_with_a_date_format_agrees_or_defers(swap):
    mapping = Mapping.load(FILES / "kasse_mapping.yaml")
    raw = (FILES / "kasse_export.csv").read_bytes().replace(*swap) if swap[0] else (FILES / "kasse_export.csv").read_bytes()
    part = text_part(raw, mapping)
    fast = validate_fast(part.frame, part.entity, part.date_format)
    slow = contract_outcome(part)
    if isinstance(slow, Exception):
        assert fast is None
    elif fast is not None:
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@pytest.mark.parametrize(("raw", "line"), [
    (tx_csv(row(), row(tid="T2", pay="esp\xe8ces")).decode().encode("latin-1"), 3),
    (("a,b,c\n1,2,\xe8\n").encode("latin-1"), 2),
    ((QUOTED_HEADER + ",n\xe8\n" + row() + ",x\n").encode("latin-1"), 1),
    ((TX_HEADER + "\n" + row() + ",extra\n" + row(tid="T2", pay="\xe8") + "\n").encode("latin-1"), 3),
], ids=["in a cell", "with an unknown header", "in a quoted header", "with a ragged row"])
def test_bad_utf8_is_reported_first_with_its_byte_offset(raw, line):
    with pytest.raises(UploadRejected) as rejected:
        read_upload(raw, "x.csv")
    problem = rejected.value.problems[0]
    assert len(rejected.value.problems) == 1 and rejected.value.format is None
    assert "not UTF-8" in problem.rule and problem.row == line
    assert f"byte offset {raw.index(0xE8)} (line {line})" in problem.rule
