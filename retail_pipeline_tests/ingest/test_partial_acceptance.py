"""Row-level quarantine: a file with a few bad rows is accepted without exactly those rows;
one with many is rejected whole and nothing stored changes."""

import io
import json

import dagster as dg
import pandas as pd
import pytest

from retail_pipeline.defs.ingest.uploads import ACCEPTED_WHOLE, upload, uploads
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ingest import PARTIAL, REJECTED, STEPS, check_file, ingest_file
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.ingest.store import TableStore

from .helpers import GOOD_TX, drop, store_fingerprint, tx_csv

ROWS = 1000
# (0-based data row, how the row is broken); the rule kinds a report must count
BREAKS = {
    "zero": "quantity must not be 0",
    "price": "actual_price is not a number",
    "date": "transaction_date is not a date",
    "sign": "quantity",  # a return line with a positive quantity (SignRule on quantity)
    "dup": "duplicate key",
}


def _line(i: int, broken: str | None = None) -> str:
    tid, qty, price, date, kind = f"T{i}", 1 + i % 5, f"{1 + i % 7}.50", f"2024-03-{1 + i % 28:02d}", ""
    if broken == "zero":
        qty = 0
    elif broken == "price":
        price = "n/a"
    elif broken == "date":
        date = "someday"
    elif broken == "sign":
        kind = "return"
    elif broken == "dup":
        tid = "T0"  # the key of the first line again: this later line is the bad one
    return f"{tid},C{i % 13},P{i % 17},S{i % 3},{qty},{price},{date},card,{kind}"


def _file(bad: dict[int, str]) -> bytes:
    header = ("transaction_id,customer_id,product_id,shop_id,quantity,actual_price,transaction_date,"
              "payment_method,line_type")
    return tx_csv(*[_line(i, bad.get(i)) for i in range(ROWS)], header=header)


FEW = {100: "zero", 250: "price", 400: "date", 700: "sign", 900: "dup"}  # 5 of 1,000 rows: 0.5%
MANY = {i: list(BREAKS)[i % 5] for i in range(3, ROWS, 20)}  # 50 of 1,000 rows: 5%


def _expected_bad_rows(raw: bytes) -> pd.DataFrame:
    """Each bad row found with plain pandas on the raw text: file row number and rule kind."""
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    frame["row"] = frame.index + 2
    found = []
    qty = pd.to_numeric(frame["quantity"], errors="coerce")
    found.append(frame.loc[qty == 0, ["row"]].assign(kind="quantity must not be 0"))
    found.append(frame.loc[pd.to_numeric(frame["actual_price"], errors="coerce").isna(), ["row"]]
                 .assign(kind="actual_price is not a number"))
    found.append(frame.loc[pd.to_datetime(frame["transaction_date"], errors="coerce", format="%Y-%m-%d").isna(),
                           ["row"]].assign(kind="transaction_date is not a date"))
    found.append(frame.loc[(frame["line_type"] == "return") & (qty > 0), ["row"]].assign(kind="sign"))
    found.append(frame.loc[frame["transaction_id"].duplicated(), ["row"]].assign(kind="duplicate key"))
    return pd.concat(found, ignore_index=True)


def _kind(rule: str) -> str:
    return "sign" if rule.startswith("quantity") and "must not be 0" not in rule else rule.split(":")[0]


def test_the_test_files_hold_the_intended_shares():
    assert len(_expected_bad_rows(_file(FEW))) == 5 and len(_expected_bad_rows(_file(MANY))) == 50
    assert _expected_bad_rows(_file(FEW))["row"].nunique() / ROWS == 0.005


def test_few_bad_rows_are_left_out_and_listed(layout):
    raw = _file(FEW)
    expected = _expected_bad_rows(raw)
    result = ingest_file(drop(layout, "march.csv", raw), layout)

    assert result.status == PARTIAL and result.accepted and result.changed_tables
    assert result.quarantined_rows == 5 and result.accepted_rows == ROWS - 5
    stored = TableStore(layout.store).read("transactions")
    every = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    kept = every[~(every.index + 2).isin(expected["row"])]
    assert sorted(stored["transaction_id"]) == sorted(kept["transaction_id"])
    assert len(stored) == ROWS - 5
    assert int(stored["quantity"].sum()) == int(pd.to_numeric(kept["quantity"]).sum())

    rejected = pd.read_csv(result.rejected_rows_path, dtype=str, keep_default_na=False)
    assert result.rejected_rows_path == layout.quarantine / "march.csv.rejected.csv"
    assert list(rejected.columns) == ["row", "entity", "column", "value", "rule"]
    assert sorted(rejected["row"].astype(int)) == sorted(expected["row"])
    listed = sorted(zip(rejected["row"].astype(int), rejected["rule"].map(_kind), strict=True))
    assert listed == sorted(zip(expected["row"], expected["kind"], strict=True))
    assert rejected.set_index(rejected["row"].astype(int)).loc[102, "value"] == "0"  # data row 100 = file row 102
    assert (layout.archive / "march.csv").read_bytes() == raw  # the file itself was accepted
    assert "quarantined" in result.summary and "march.csv.rejected.csv" in result.summary

    entry = Ledger(layout.store).get(result.sha256)
    assert entry["status"] == PARTIAL
    assert (entry["accepted_rows"], entry["quarantined_rows"]) == (ROWS - 5, 5)
    assert entry["rejected_rows_csv"] == "march.csv.rejected.csv"


def test_per_rule_counts_of_a_partial_upload_equal_the_counts_computed_here(layout):
    raw = _file(FEW)
    counts = _expected_bad_rows(raw)["kind"].value_counts().to_dict()
    result = ingest_file(drop(layout, "march.csv", raw), layout)
    reported = {}
    for kind, rc in result.by_rule.items():
        reported[_kind(kind)] = reported.get(_kind(kind), 0) + rc.count
    assert reported == counts
    entry = Ledger(layout.store).get(result.sha256)
    assert {_kind(k): v["count"] for k, v in entry["problems_by_rule"].items()} == counts
    assert result.summary.index("Per rule") < result.summary.index("archived as")


def test_many_bad_rows_reject_the_whole_file_and_nothing_stored_changes(layout):
    ingest_file(drop(layout, "before.csv", GOOD_TX), layout)
    before = store_fingerprint(layout.store)
    raw = _file(MANY)
    expected = _expected_bad_rows(raw)
    result = ingest_file(drop(layout, "march.csv", raw), layout)

    assert result.status == REJECTED and not result.changed_tables
    assert store_fingerprint(layout.store) == before
    assert "50 of 1,000 rows (5.00%)" in result.summary and "RETAIL_MAX_BAD_ROW_SHARE" in result.summary
    report = json.loads(result.error_path.read_text())
    assert report["total"] == len(expected) and report["rejected_rows_csv"] == "march.csv.rejected.csv"
    rejected = pd.read_csv(result.rejected_rows_path, dtype=str, keep_default_na=False)
    assert sorted(rejected["row"].astype(int)) == sorted(expected["row"])
    assert sorted(map(_kind, rejected["rule"])) == sorted(expected["kind"])
    assert (layout.quarantine / "march.csv").read_bytes() == raw


def test_strict_and_the_share_setting(layout, monkeypatch):
    raw = _file(FEW)
    path = layout.root / "march.csv"
    path.write_bytes(raw)
    assert check_file(path).partial
    assert not check_file(path, strict=True).accepted
    monkeypatch.setenv("RETAIL_STRICT_UPLOADS", "true")
    assert not check_file(path).accepted
    monkeypatch.delenv("RETAIL_STRICT_UPLOADS")
    many = layout.root / "many.csv"
    many.write_bytes(_file(MANY))
    assert not check_file(many).accepted
    monkeypatch.setenv("RETAIL_MAX_BAD_ROW_SHARE", "0.05")
    assert check_file(many).partial and check_file(many).quarantined_rows == 50
    before = store_fingerprint(layout.store)
    result = ingest_file(drop(layout, "march.csv", raw), layout, strict=True)
    assert result.status == REJECTED and store_fingerprint(layout.store) == before


def test_a_single_bad_row_of_a_tiny_file_still_rejects_it(layout):
    raw = tx_csv("T1,C1,P1,S1,0,1.0,2024-01-01,cash", "T2,C1,P1,S1,1,1.0,2024-01-01,cash")
    result = ingest_file(drop(layout, "tiny.csv", raw), layout)
    assert result.status == REJECTED and not TableStore(layout.store).exists("transactions")


@pytest.mark.parametrize("step", STEPS)
def test_a_partial_upload_killed_at_any_step_ends_like_one_clean_run(tmp_path, step):
    from retail_pipeline.platform.layout import DataLayout

    raw = _file(FEW)
    clean = DataLayout(tmp_path / "clean").ensure()
    ingest_file(drop(clean, "march.csv", raw), clean)
    crashed = DataLayout(tmp_path / "crashed").ensure()

    def crash(done: str):
        if done == step:
            raise RuntimeError(f"killed after {done}")

    with pytest.raises(RuntimeError):
        ingest_file(drop(crashed, "march.csv", raw), crashed, on_step=crash)
    again = ingest_file(crashed.incoming / "march.csv", crashed) if (crashed.incoming / "march.csv").exists() \
        else None
    store = TableStore(crashed.store).read("transactions")
    assert store.equals(TableStore(clean.store).read("transactions"))
    assert len(store) == ROWS - 5
    assert ((crashed.quarantine / "march.csv.rejected.csv").read_bytes()
            == (clean.quarantine / "march.csv.rejected.csv").read_bytes())
    assert sorted(p.name for p in crashed.quarantine.iterdir()) == ["march.csv.rejected.csv"]
    if again is not None:
        assert again.status in (PARTIAL, "duplicate")


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _materialize(instance, layout, name: str, raw: bytes):
    import hashlib

    path = drop(layout, name, raw)
    key = hashlib.sha256(raw).hexdigest()[:16]
    instance.add_dynamic_partitions(uploads.name, [key])
    return dg.materialize([upload], partition_key=key, instance=instance, raise_on_error=False,
                          resources={"data_dir": DataDirResource(root=str(layout.root))},
                          run_config={"ops": {"upload": {"config": {"path": str(path)}}}})


def test_a_rejected_upload_is_a_failed_run_and_changes_nothing(instance, layout):
    ingest_file(drop(layout, "before.csv", GOOD_TX), layout)
    before = store_fingerprint(layout.store)
    result = _materialize(instance, layout, "march.csv", _file(MANY))
    assert result.success is False
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    assert result.get_asset_materialization_events() == []
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["status"].value == REJECTED and metadata["total_problems"].value == 50
    assert store_fingerprint(layout.store) == before
    assert (layout.quarantine / "march.csv.error.json").exists()


def test_a_partial_upload_is_visibly_partial(instance, layout):
    result = _materialize(instance, layout, "march.csv", _file(FEW))
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["status"].value == PARTIAL and metadata["quarantined_rows"].value == 5
    assert metadata["rows"].value == ROWS - 5
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == ACCEPTED_WHOLE]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["quarantined_rows"].value == 5


def test_cli_reports_a_partial_upload_per_rule_and_strict_rejects_it(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from retail_pipeline.cli.ingest import register

    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    path = tmp_path / "march.csv"
    path.write_bytes(_file(FEW))
    checked = CliRunner().invoke(app, ["check", str(path)])
    assert checked.exit_code == 0 and "PARTIAL" in checked.output
    assert "1 x quantity must not be 0" in checked.output and "1 x duplicate key" in checked.output
    assert checked.output.index("per rule") < checked.output.index("row by row")
    strict = CliRunner().invoke(app, ["ingest", "--strict", str(path)])
    assert strict.exit_code == 1 and "rejected" in strict.output
    taken = CliRunner().invoke(app, ["ingest", str(path)])
    assert taken.exit_code == 0, taken.output
    assert "partial" in taken.output and "accepted 995 rows, quarantined 5 rows" in taken.output
    assert "1 x actual_price is not a number" in taken.output
    assert "march.csv.rejected.csv" in taken.output
