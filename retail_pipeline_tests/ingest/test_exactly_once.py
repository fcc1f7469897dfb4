"""Exactly once, updates with history, crash-and-rerun, and backups."""

import json
import shutil

import pandas as pd
import pytest

from retail_pipeline.ingest.backups import list_backups, restore_backup
from retail_pipeline.ingest.ingest import STEPS, ingest_file
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import GOOD_TX, TX_ROWS, drop, store_fingerprint, tx_csv

UPDATE = tx_csv(TX_ROWS[0].replace("9.99", "7.50"), "T4,C3,P3,S2,5,1.25,2024-02-01,card")


def _table(layout, entity="transactions"):
    return TableStore(layout.store).read(entity)


def test_same_content_under_two_names_is_ingested_once(layout):
    first = ingest_file(drop(layout, "monday.csv", GOOD_TX), layout)
    tables_after_first = store_fingerprint(layout.store)
    second = ingest_file(drop(layout, "copy of monday.csv", GOOD_TX), layout)

    assert (first.status, second.status) == ("accepted", "duplicate")
    assert first.sha256 == second.sha256
    assert store_fingerprint(layout.store) == tables_after_first
    assert len(_table(layout)) == 3
    assert list(Ledger(layout.store).entries()) == [first.sha256]
    assert (layout.archive / "monday.csv").read_bytes() == GOOD_TX
    assert (layout.archive / "copy of monday.csv").read_bytes() == GOOD_TX
    assert len(list_backups(layout)) == 1  # the duplicate changed nothing, so no backup


def test_same_name_new_content_does_not_clobber_the_archive(layout):
    ingest_file(drop(layout, "daily.csv", GOOD_TX), layout)
    result = ingest_file(drop(layout, "daily.csv", UPDATE), layout)
    assert (layout.archive / "daily.csv").read_bytes() == GOOD_TX
    assert result.archive_path.read_bytes() == UPDATE
    assert result.archive_path.name == f"daily.{result.sha256[:12]}.csv"


def test_updated_record_replaces_old_version_which_stays_in_history(layout):
    first = ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    second = ingest_file(drop(layout, "b.csv", UPDATE), layout)

    table = _table(layout).set_index("transaction_id")
    assert sorted(table.index) == ["T1", "T2", "T3", "T4"]
    assert table.loc["T1", "actual_price"] == 7.50
    assert table.loc["T2", "actual_price"] == 5.00 and table.loc["T4", "quantity"] == 5
    old = pd.read_parquet(layout.history / "transactions" / f"{first.upload_id}.parquet")
    new = pd.read_parquet(layout.history / "transactions" / f"{second.upload_id}.parquet")
    assert old.set_index("transaction_id").loc["T1", "actual_price"] == 9.99
    assert new.set_index("transaction_id").loc["T1", "actual_price"] == 7.50
    assert len(old) == 3 and len(new) == 2


def _clean_run(tmp_path) -> DataLayout:
    clean = DataLayout(tmp_path / "clean").ensure()
    ingest_file(drop(clean, "a.csv", GOOD_TX), clean)
    ingest_file(drop(clean, "b.csv", UPDATE), clean)
    return clean


class Killed(RuntimeError):
    pass


@pytest.mark.parametrize("step", STEPS)
def test_killed_between_steps_then_rerun_equals_one_clean_run(step, tmp_path):
    clean = _clean_run(tmp_path)
    layout = DataLayout(tmp_path / "crashed").ensure()
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    before = store_fingerprint(layout.store)

    def crash(done: str):
        if done == step:
            raise Killed(step)

    with pytest.raises(Killed):
        ingest_file(drop(layout, "b.csv", UPDATE), layout, on_step=crash)
    if step in ("backup", "history"):  # consolidated tables untouched so far
        assert {k: v for k, v in store_fingerprint(layout.store).items() if "/" not in k
                and k != "ledger.json"} == {k: v for k, v in before.items() if "/" not in k and k != "ledger.json"}

    rerun = ingest_file(layout.incoming / "b.csv" if step != "archive" else layout.archive / "b.csv", layout)
    assert rerun.status in ("accepted", "duplicate")

    for entity in ("transactions",):
        pd.testing.assert_frame_equal(_table(layout, entity), _table(clean, entity))
        assert (layout.store / f"{entity}.parquet").read_bytes() == (clean.store / f"{entity}.parquet").read_bytes()
    clean_history = {k: v for k, v in store_fingerprint(clean.store).items() if k.startswith("history")}
    assert {k: v for k, v in store_fingerprint(layout.store).items() if k.startswith("history")} == clean_history
    assert set(Ledger(layout.store).entries()) == set(Ledger(clean.store).entries())
    assert list(layout.incoming.iterdir()) == []
    assert (layout.archive / "b.csv").read_bytes() == UPDATE
    assert len(list_backups(layout)) == 2  # the interrupted run's backup was reused


def test_backups_are_kept_listed_and_restored(layout):
    files = [GOOD_TX, UPDATE, tx_csv("T5,C1,P1,S1,1,3.00,2024-03-01,cash"),
             tx_csv("T6,C1,P1,S1,1,4.00,2024-03-02,cash")]
    for i, content in enumerate(files):
        ingest_file(drop(layout, f"f{i}.csv", content), layout, keep_backups=3)
    found = list_backups(layout)
    assert len(found) == 3
    assert [b.tables.get("transactions") for b in found] == [3, 4, 5]  # before uploads 2, 3, 4
    current = store_fingerprint(layout.store)

    restore_backup(layout, found[0].id, keep=3)  # back to the state after the first upload
    table = _table(layout).set_index("transaction_id")
    assert sorted(table.index) == ["T1", "T2", "T3"] and table.loc["T1", "actual_price"] == 9.99
    assert len(Ledger(layout.store).entries()) == 1  # the later uploads can be dropped again
    safety = list_backups(layout)[-1]
    assert safety.reason.startswith("state before restoring")
    assert json.loads((safety.path / "manifest.json").read_text())["tables"] == {"transactions": 6}
    restore_backup(layout, safety.id)
    assert {k: v for k, v in store_fingerprint(layout.store).items() if "/" not in k} == \
           {k: v for k, v in current.items() if "/" not in k}


def test_restore_of_a_backup_taken_on_an_empty_store_removes_the_tables(layout):
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    first = list_backups(layout)[0]
    assert first.tables == {}
    restore_backup(layout, first.id)
    assert not TableStore(layout.store).exists("transactions")
    assert Ledger(layout.store).entries() == {}
    shutil.copy(layout.archive / "a.csv", layout.incoming / "a.csv")
    assert ingest_file(layout.incoming / "a.csv", layout).status == "accepted"
