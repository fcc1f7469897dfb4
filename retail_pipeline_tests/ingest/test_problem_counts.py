"""Reports count problems per rule, with the first examples of each, before the row-by-row list."""

import hashlib
import io
import json

import dagster as dg
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from retail_pipeline.cli.ingest import register
from retail_pipeline.contract import MAX_REPORTED, ContractError, validate
from retail_pipeline.defs.ingest.uploads import upload, uploads
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ingest import REJECTED, ingest_file
from retail_pipeline.platform.layout import DataLayout

from .helpers import TX_HEADER, tx_csv

ZERO_QTY, DUPLICATES, BAD_PRICES, UNIQUE = 25, 30, 4, 200


def _messy_file() -> bytes:
    """Zero quantities first in file order, then bad prices, then repeated keys at the end."""
    rows = []
    for i in range(UNIQUE):
        quantity = 0 if i < ZERO_QTY else 1 + i % 3
        price = "abc" if ZERO_QTY <= i < ZERO_QTY + BAD_PRICES else "4.50"
        rows.append(f"T{i},C{i % 7},P{i % 11},S1,{quantity},{price},2024-02-{1 + i % 28:02d},card")
    for i in range(DUPLICATES):
        rows.append(f"T{100 + i},C1,P1,S1,1,4.50,2024-03-01,cash")
    return tx_csv(*rows)


def _expected(raw: bytes) -> dict[str, int]:
    frame = pd.read_csv(io.BytesIO(raw), dtype=str)
    return {
        "quantity": int((pd.to_numeric(frame["quantity"]) == 0).sum()),
        "price": int(pd.to_numeric(frame["actual_price"], errors="coerce").isna().sum()),
        "duplicate key": int(frame["transaction_id"].duplicated().sum()),
    }


def _counts(by_rule) -> dict[str, int]:
    def count(kind: dict, prefix: str) -> int:
        return sum(rc["count"] if isinstance(rc, dict) else rc.count
                   for k, rc in kind.items() if k.startswith(prefix))
    return {"quantity": count(by_rule, "quantity"), "price": count(by_rule, "actual_price"),
            "duplicate key": count(by_rule, "duplicate key")}


def test_contract_error_counts_every_rule_even_past_the_listed_rows():
    raw = _messy_file()
    expected = _expected(raw)
    assert expected == {"quantity": ZERO_QTY, "price": BAD_PRICES, "duplicate key": DUPLICATES}
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    with pytest.raises(ContractError) as caught:
        validate(frame, "transactions", "messy.csv")
    error = caught.value
    assert _counts(error.by_rule) == expected
    assert error.total == sum(expected.values())
    assert len(error.problems) == MAX_REPORTED  # the row list is full of quantity problems ...
    assert not any(p.rule.startswith("duplicate key") for p in error.problems)
    dup = error.by_rule["duplicate key"]  # ... yet the duplicate keys are counted, with examples
    assert [p.row for p in dup.examples] == [UNIQUE + 2, UNIQUE + 3, UNIQUE + 4]
    assert dup.examples[0].value == "T100"
    message = str(error)
    assert message.index(f"{DUPLICATES} x duplicate key") < message.index("row by row")


def test_error_json_and_result_count_per_rule(layout, tmp_path):
    raw = _messy_file()
    path = tmp_path / "messy.csv"
    path.write_bytes(raw)
    result = ingest_file(path, layout)
    assert result.status == REJECTED
    assert _counts(result.by_rule) == _expected(raw)
    report = json.loads(result.error_path.read_text())
    assert _counts(report["problems_by_rule"]) == _expected(raw)
    examples = report["problems_by_rule"]["duplicate key"]["examples"]
    assert [e["row"] for e in examples] == [UNIQUE + 2, UNIQUE + 3, UNIQUE + 4]
    assert f"{DUPLICATES} x duplicate key" in result.summary


def test_cli_check_prints_counts_before_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    path = tmp_path / "messy.csv"
    path.write_bytes(_messy_file())
    out = CliRunner().invoke(app, ["check", str(path)])
    assert out.exit_code == 1
    assert f"{DUPLICATES} x duplicate key" in out.output
    assert f"{ZERO_QTY} x quantity must not be 0" in out.output
    assert out.output.index(f"{DUPLICATES} x duplicate key") < out.output.index("row by row")
    assert TX_HEADER not in out.output


def test_upload_run_metadata_counts_per_rule(tmp_path):
    data = DataLayout(tmp_path / "data").ensure()
    raw = _messy_file()
    (data.incoming / "messy.csv").write_bytes(raw)
    key = hashlib.sha256(raw).hexdigest()[:16]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(uploads.name, [key])
        result = dg.materialize([upload], partition_key=key, instance=instance, raise_on_error=False,
                                resources={"data_dir": DataDirResource(root=str(data.root))})
    assert not result.success and result.get_asset_materialization_events() == []  # a failed run
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["status"].value == "rejected"
    assert _counts(metadata["problems_by_rule"].value) == _expected(raw)
    listing = metadata["problems"].value
    assert listing.index(f"{DUPLICATES} x duplicate key") < listing.index("row 2,")
