"""Replacing stored rows by key is reported; replacing most of an earlier upload fails a check."""

import hashlib
import io

import dagster as dg
import pandas as pd
import pytest

from retail_pipeline.defs.ingest.uploads import REPLACED_EARLIER, upload, uploads
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ingest import ACCEPTED, STEPS, ingest_file
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.platform.layout import DataLayout

from .helpers import drop, tx_csv


def _lines(ids, price="2.50") -> bytes:
    return tx_csv(*[f"T{i},C{i % 5},P{i % 7},S1,{1 + i % 3},{price},2024-04-{1 + i % 28:02d},card" for i in ids])


FIRST = _lines(range(100))
MOST = _lines(range(40, 140), price="3.00")  # 60 of FIRST's 100 keys again
FEW = _lines(range(90, 200), price="4.00")  # 10 of FIRST's keys, 50 of MOST's


def _keys(raw: bytes) -> set[str]:
    return set(pd.read_csv(io.BytesIO(raw), dtype=str)["transaction_id"])


def test_replaced_rows_are_counted_per_earlier_upload(layout):
    first = ingest_file(drop(layout, "a.csv", FIRST), layout)
    assert first.replaced == {"transactions": {"rows": 0, "by_upload": {}}} and first.replaced_rows == 0
    second = ingest_file(drop(layout, "b.csv", MOST), layout)
    overlap = len(_keys(FIRST) & _keys(MOST))
    assert overlap == 60
    assert second.status == ACCEPTED
    assert second.replaced == {"transactions": {"rows": overlap, "by_upload": {
        first.upload_id: {"rows": overlap, "of": 100, "file": "a.csv"}}}}
    assert f"replaced {overlap:,} stored rows" in second.summary
    assert second.replaced_most == [{"entity": "transactions", "upload_id": first.upload_id,
                                     "rows": overlap, "of": 100, "file": "a.csv"}]
    assert "WARNING" in second.summary
    assert Ledger(layout.store).get(second.sha256)["replaced"] == second.replaced

    third = ingest_file(drop(layout, "c.csv", FEW), layout)
    stored_before = _keys(FIRST) | _keys(MOST)
    assert third.replaced_rows == len(stored_before & _keys(FEW)) == 50
    by_upload = third.replaced["transactions"]["by_upload"]
    assert by_upload[first.upload_id] == {"rows": len(_keys(FIRST) & _keys(FEW)), "of": 100, "file": "a.csv"}
    assert by_upload[second.upload_id] == {"rows": len(_keys(MOST) & _keys(FEW)), "of": 100, "file": "b.csv"}
    assert third.replaced_most == []  # 10% of a.csv, 50% (not more than half) of b.csv


@pytest.mark.parametrize("step", [s for s in STEPS if s != "archive"])
def test_the_report_is_the_same_after_a_crash_and_a_rerun(tmp_path, step):
    layout = DataLayout(tmp_path / "data").ensure()
    first = ingest_file(drop(layout, "a.csv", FIRST), layout)

    def crash(done: str):
        if done == step:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        ingest_file(drop(layout, "b.csv", MOST), layout, on_step=crash)
    again = ingest_file(layout.incoming / "b.csv", layout)
    if again.status == ACCEPTED:
        report = again.replaced
    else:  # the ledger was written before the crash: the report is the one recorded there
        report = Ledger(layout.store).get(again.sha256)["replaced"]
    assert report["transactions"]["rows"] == 60
    assert report["transactions"]["by_upload"] == {first.upload_id: {"rows": 60, "of": 100, "file": "a.csv"}}


def _materialize(instance, layout, name, raw):
    path = drop(layout, name, raw)
    key = hashlib.sha256(raw).hexdigest()[:16]
    instance.add_dynamic_partitions(uploads.name, [key])
    return dg.materialize([upload], partition_key=key, instance=instance,
                          resources={"data_dir": DataDirResource(root=str(layout.root))},
                          run_config={"ops": {"upload": {"config": {"path": str(path)}}}})


def test_replacing_most_of_an_earlier_upload_fails_an_error_check(layout):
    with dg.DagsterInstance.ephemeral() as instance:
        first = _materialize(instance, layout, "a.csv", FIRST)
        [ok] = [c for c in first.get_asset_check_evaluations() if c.check_name == REPLACED_EARLIER]
        assert ok.passed
        second = _materialize(instance, layout, "b.csv", MOST)
        [check] = [c for c in second.get_asset_check_evaluations() if c.check_name == REPLACED_EARLIER]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["replaced_rows"].value == 60
        [most] = check.metadata["replaced_most"].value
        assert (most["rows"], most["of"], most["file"]) == (60, 100, "a.csv")
        metadata = second.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["replaced_rows"].value == 60
        third = _materialize(instance, layout, "c.csv", FEW)
        [fine] = [c for c in third.get_asset_check_evaluations() if c.check_name == REPLACED_EARLIER]
        assert fine.passed and fine.metadata["replaced_rows"].value == 50
