"""Large tables stored as folders of parts read back exactly like the one-file merge, take an
upload without rewriting what they hold, and commit, back up, restore and clean up safely."""

import os

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.contract import ENTITIES, validate
from retail_pipeline.ingest import cleanup
from retail_pipeline.ingest import store as stores
from retail_pipeline.ingest.backups import list_backups, restore_backup
from retail_pipeline.ingest.ingest import STEPS, ingest_file, reference_report
from retail_pipeline.ingest.store import TableStore, table_files, upsert_frames
from retail_pipeline.platform import atomic
from retail_pipeline.platform.layout import DataLayout

from .helpers import GOOD_TX, TX_ROWS, drop, tx_csv

KEY = list(ENTITIES["transactions"].key)
UPDATE = tx_csv(TX_ROWS[0].replace("9.99", "7.50"), "T4,C3,P3,S2,5,1.25,2024-02-01,card")


@pytest.fixture
def parted(monkeypatch):
    """Every table takes uploads as parts, however small."""
    monkeypatch.setattr(stores, "PARTS_FROM_ROWS", 0)


def _upload(rng, ids) -> pd.DataFrame:
    """Typed transactions with these ids (random other values, some customers empty)."""
    n = len(ids)
    raw = pd.DataFrame({
        "transaction_id": [f"T{i:06d}" for i in ids],
        "customer_id": np.where(rng.random(n) < 0.1, None, [f"C{c}" for c in rng.integers(0, 50, n)]),
        "product_id": [f"P{p}" for p in rng.integers(0, 20, n)],
        "shop_id": [f"S{s}" for s in rng.integers(0, 5, n)],
        "quantity": rng.integers(1, 6, n).astype(str),
        "actual_price": rng.integers(100, 2000, n).astype(str),
        "transaction_date": [f"2024-{m:02d}-{d:02d} 10:00:00" for m, d in
                             zip(rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)],
        "payment_method": rng.choice(["card", "cash", "mobile"], n),
    })
    return validate(raw, "transactions")


def _uploads(seed: int = 3, count: int = 7, rows: int = 300) -> list[pd.DataFrame]:
    """Uploads of new ids; every third one also gives some earlier ids again (and the last one
    all the ids of an earlier upload), so parts are rewritten and emptied too."""
    rng = np.random.default_rng(seed)
    uploads = []
    for n in range(count):
        ids = list(range(n * rows, (n + 1) * rows))
        if n % 3 == 2:
            ids += sorted(rng.choice(n * rows, size=rows // 4, replace=False).tolist())
        if n == count - 1:
            ids += list(range(rows, 2 * rows))
        uploads.append(_upload(rng, sorted(set(ids))))
    return uploads


def _apply(store: TableStore, uploads, folder, with_history: bool = True) -> list[int]:
    """Upsert each upload as ingestion does (from its history file); the replaced counts."""
    counts = []
    for n, frame in enumerate(uploads):
        written = atomic.write_parquet(folder / f"u{n}.parquet", frame) if with_history else None
        counts.append(store.upsert("transactions", frame, written))
    return counts


def _reference(uploads) -> tuple[pd.DataFrame, list[int]]:
    """The one-file merge, upload after upload, and the stored rows each one replaced."""
    current, counts = None, []
    for frame in uploads:
        counts.append(0 if current is None else int(current["transaction_id"].isin(frame["transaction_id"]).sum()))
        current = upsert_frames(current, frame, KEY)
    for column in current.columns:  # as a read of the stored table types them
        if current[column].dtype.kind == "M":
            current[column] = current[column].astype("datetime64[ns]")
    return current, counts


@pytest.mark.parametrize("with_history", [True, False])
def test_parts_read_back_exactly_as_the_one_file_merge(parted, tmp_path, with_history):
    uploads = _uploads()
    store = TableStore(tmp_path / "store")
    counts = _apply(store, uploads, tmp_path, with_history)
    expected, expected_counts = _reference(uploads)
    assert store.path("transactions").is_dir()
    pd.testing.assert_frame_equal(store.read("transactions"), expected)
    assert counts == expected_counts and sum(counts) > 300
    by_path = pd.read_parquet(store.path("transactions"))  # a reader that knows only the path
    assert by_path["transaction_id"].tolist() == expected["transaction_id"].tolist()
    columns = store.read("transactions", columns=["transaction_id", "quantity"])
    pd.testing.assert_frame_equal(columns, expected[["transaction_id", "quantity"]])


def test_compaction_merges_small_parts_and_keeps_the_rows(parted, tmp_path, monkeypatch):
    monkeypatch.setattr(stores, "MAX_PARTS", 3)
    uploads = _uploads(seed=5, count=9, rows=100)
    store = TableStore(tmp_path / "store")
    _apply(store, uploads, tmp_path)
    assert len(table_files(store.path("transactions"))) <= 4
    pd.testing.assert_frame_equal(store.read("transactions"), _reference(uploads)[0])


def test_an_upload_of_new_keys_adds_a_part_and_leaves_the_others_alone(parted, tmp_path):
    uploads = _uploads(count=2)
    store = TableStore(tmp_path / "store")
    _apply(store, uploads[:1], tmp_path)
    first = store.path("transactions").stat().st_ino  # still one file
    _apply(store, uploads, tmp_path)  # the first upload again (replaces itself), then the second
    parts = table_files(store.path("transactions"))
    assert [p.name for p in parts] == ["part-000001.parquet", "part-000002.parquet"]
    assert os.path.samefile(parts[1], tmp_path / "u1.parquet")  # the history file, linked not rewritten
    assert parts[0].stat().st_ino != first  # the part the repeated upload replaced was rewritten
    versions = sorted(p.name for p in (tmp_path / "store" / "parts" / "transactions").iterdir())
    assert len(versions) == 2  # the current version and the ones before it


def test_a_new_schema_is_merged_into_one_file(parted, tmp_path):
    uploads = _uploads(count=3)
    uploads[2] = uploads[2].assign(note="extra").astype({"note": "str"})
    store = TableStore(tmp_path / "store")
    _apply(store, uploads, tmp_path)
    assert store.path("transactions").is_file()
    pd.testing.assert_frame_equal(store.read("transactions"), _reference(uploads)[0])


def test_a_multi_table_commit_killed_half_way_reads_as_all_new(parted, tmp_path):
    store = TableStore(tmp_path)
    old, new = _uploads(count=2)
    shops = pd.DataFrame({"shop_id": ["S1", "S2"], "city": ["a", "b"]}).astype("str")
    store.upsert_many({"transactions": old, "shops": shops})

    def kill(entity):
        raise RuntimeError(f"killed after renaming {entity}")

    with pytest.raises(RuntimeError):
        store.upsert_many({"transactions": new, "shops": shops.iloc[:1]}, after_rename=kill)
    assert (tmp_path / stores.JOURNAL).exists()
    pd.testing.assert_frame_equal(store.read("transactions"), _reference([old, new])[0])
    assert store.read("shops")["shop_id"].tolist() == ["S2", "S1"]


def _clean_run(tmp_path) -> DataLayout:
    clean = DataLayout(tmp_path / "clean").ensure()
    ingest_file(drop(clean, "a.csv", GOOD_TX), clean)
    ingest_file(drop(clean, "b.csv", UPDATE), clean)
    return clean


@pytest.mark.parametrize("step", STEPS)
def test_killed_between_steps_then_rerun_equals_one_clean_run(parted, step, tmp_path):
    clean = _clean_run(tmp_path)
    layout = DataLayout(tmp_path / "crashed").ensure()
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)

    def crash(done: str):
        if done == step:
            raise RuntimeError(step)

    with pytest.raises(RuntimeError):
        ingest_file(drop(layout, "b.csv", UPDATE), layout, on_step=crash)
    rerun = ingest_file(layout.incoming / "b.csv" if step != "archive" else layout.archive / "b.csv", layout)
    assert rerun.status in ("accepted", "duplicate")
    if rerun.status == "accepted":  # counted against the state before the upload, not its own rows
        assert rerun.replaced_rows == 1
    stored = TableStore(layout.store)
    assert stored.path("transactions").is_dir()
    pd.testing.assert_frame_equal(stored.read("transactions"), TableStore(clean.store).read("transactions"))


def test_backups_of_parts_are_links_and_restore_the_table(parted, layout):
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    ingest_file(drop(layout, "b.csv", UPDATE), layout)
    after_two = TableStore(layout.store).read("transactions")
    third = ingest_file(drop(layout, "c.csv", tx_csv("T5,C1,P1,S1,1,3.00,2024-03-01,cash")), layout)
    backup = list_backups(layout)[-1]
    assert backup.tables == {"transactions": 4}
    parts = table_files(backup.path / "transactions.parquet")
    current = table_files(layout.store / "transactions.parquet")
    assert all(os.path.samefile(p, current[i]) for i, p in enumerate(parts))
    assert reference_report(layout, third)["shop_id"]["known"] == 2  # read from the backup's parts

    restore_backup(layout, backup.id)
    pd.testing.assert_frame_equal(TableStore(layout.store).read("transactions"), after_two)
    assert cleanup.same_tables(backup.path, layout.store)


def test_cleanup_removes_a_version_written_before_its_commit(parted, layout):
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    ingest_file(drop(layout, "b.csv", UPDATE), layout)
    store = TableStore(layout.store)
    before = store.read("transactions")
    new = _uploads(count=1)[0]
    pending = layout.store / ".transactions.pending.parquet"
    store._write_next("transactions", new, None, pending)  # what a run killed before its rename leaves
    assert pending.is_symlink()
    lines = cleanup.clean(layout, grace_seconds=0).removed
    assert any("pending" in line for line in lines) and not os.path.lexists(pending)
    pd.testing.assert_frame_equal(store.read("transactions"), before)
    store.upsert("transactions", new)  # the next commit drops the orphan version folder
    assert len(list((layout.store / "parts" / "transactions").iterdir())) == 2
