"""`ingest --pending` under faults: files that vanish, fail, are still written, or are
taken by a second process at the same time; every result is reported as it happens."""

import os
import threading

import typer
from typer.testing import CliRunner

from retail_pipeline.cli.ingest import register
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import drop, store_fingerprint, tx_csv

T0 = 1_700_000_000_000_000_000


def iter_pending(*args, **kwargs):
    from retail_pipeline.ingest.ingest import iter_pending  # new in issue 9: imported late so the
    return iter_pending(*args, **kwargs)                    # CLI tests also run on older code


def _files(layout, count: int = 3) -> dict[str, bytes]:
    """``count`` uploads with distinct rows, oldest first (so the order of ingestion is known)."""
    contents = {f"{chr(97 + i)}.csv": tx_csv(f"T{i},C1,P1,S1,{i + 1},2.00,2024-01-0{i + 1},cash")
                for i in range(count)}
    for i, (name, content) in enumerate(contents.items()):
        path = drop(layout, name, content)
        os.utime(path, ns=(T0 + i * 10**9, T0 + i * 10**9))
    return contents


def _cli(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    return app, CliRunner()


def test_pending_goes_on_when_another_process_takes_a_file_mid_run(tmp_path, monkeypatch):
    app, runner = _cli(tmp_path, monkeypatch)
    layout = DataLayout(tmp_path / "data").ensure()
    contents = _files(layout)
    record = Ledger.record

    def record_then_lose_b(self, sha, entry):  # while a.csv is applied, b.csv is taken away
        record(self, sha, entry)
        if entry["file"] == "a.csv":
            (layout.incoming / "b.csv").unlink()

    monkeypatch.setattr(Ledger, "record", record_then_lose_b)
    result = runner.invoke(app, ["ingest", "--pending", "--settle", "0"])

    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.split(" ")[0] in
             ("accepted", "skipped", "rejected", "failed", "duplicate")]
    assert [line.split(" ")[:2] for line in lines] == [
        ["accepted", "a.csv:"], ["skipped", "b.csv:"], ["accepted", "c.csv:"]]
    assert "disappeared before it was read" in lines[1]
    assert [e["file"] for e in Ledger(layout.store).entries().values()] == ["a.csv", "c.csv"]
    assert sorted(p.name for p in layout.archive.iterdir()) == ["a.csv", "c.csv"]
    assert (layout.archive / "c.csv").read_bytes() == contents["c.csv"]
    assert sorted(TableStore(layout.store).read("transactions")["transaction_id"]) == ["T0", "T2"]


def test_pending_reports_each_file_as_it_is_done_and_a_failure_loses_nothing(tmp_path, monkeypatch):
    app, runner = _cli(tmp_path, monkeypatch)
    layout = DataLayout(tmp_path / "data").ensure()
    _files(layout)
    upsert = TableStore.upsert_many

    def fail_on_b(self, tables, written=None, after_rename=None):
        if any("T1" in set(frame["transaction_id"]) for frame in tables.values()):
            raise RuntimeError("disk on fire")
        return upsert(self, tables, written, after_rename)

    monkeypatch.setattr(TableStore, "upsert_many", fail_on_b)
    # results come one at a time: a.csv is reported while b.csv and c.csv still wait
    pending = iter_pending(layout, settle_seconds=0)
    first = next(pending)
    assert (first.file, first.status) == ("a.csv", "accepted")
    assert sorted(p.name for p in layout.incoming.iterdir()) == ["b.csv", "c.csv"]
    rest = list(pending)
    assert [(r.file, r.status) for r in rest] == [("b.csv", "failed"), ("c.csv", "accepted")]
    assert "RuntimeError: disk on fire" in rest[0].summary

    # the same through the command line, on a fresh folder: the report survives the failure
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "again"))
    again = DataLayout(tmp_path / "again").ensure()
    _files(again)
    result = runner.invoke(app, ["ingest", "--pending", "--settle", "0"])
    assert result.exit_code == 1
    assert "accepted a.csv" in result.output and "failed b.csv" in result.output
    assert "accepted c.csv" in result.output and "disk on fire" in result.output
    assert (again.incoming / "b.csv").exists()  # left to be taken again
    assert [e["file"] for e in Ledger(again.store).entries().values()] == ["a.csv", "c.csv"]


def test_a_file_still_open_for_writing_or_changing_is_left_for_the_next_run(layout):
    _files(layout, 2)
    with open(layout.incoming / "a.csv", "ab") as writer:  # a copy that has not finished
        results = list(iter_pending(layout, settle_seconds=0))
        writer.write(b"T9,C1,P1,S1,1,1.00,2024-01-09,cash\n")
    assert [(r.file, r.status) for r in results] == [("a.csv", "skipped"), ("b.csv", "accepted")]
    assert "open for writing by process" in results[0].summary and str(os.getpid()) in results[0].summary

    def append_while_settling(seconds):  # the file grows between the two looks
        with open(layout.incoming / "a.csv", "ab") as handle:
            handle.write(b"T8,C1,P1,S1,1,1.00,2024-01-08,cash\n")

    [changing] = iter_pending(layout, settle_seconds=1, sleep=append_while_settling)
    assert (changing.file, changing.status) == ("a.csv", "skipped") and "still being written" in changing.note
    [taken] = iter_pending(layout, settle_seconds=0)
    assert (taken.file, taken.status, taken.rows) == ("a.csv", "accepted", {"transactions": 3})


def test_two_pending_runs_at_once_take_each_file_exactly_once(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    contents = _files(layout, 6)
    outcomes, errors = [], []

    def run():
        try:
            outcomes.extend(iter_pending(layout, settle_seconds=0))
        except Exception as exc:  # noqa: BLE001 (the test reports it)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    accepted = sorted(r.file for r in outcomes if r.status == "accepted")
    assert accepted == sorted(contents)  # each file applied once, by one of the two runs
    assert all(r.status in ("accepted", "duplicate", "skipped") for r in outcomes)
    assert sorted(p.name for p in layout.archive.iterdir()) == sorted(contents)
    assert list(layout.incoming.iterdir()) == []
    assert len(Ledger(layout.store).entries()) == 6
    table = TableStore(layout.store).read("transactions")
    assert sorted(table["transaction_id"]) == [f"T{i}" for i in range(6)]
    assert not any(".tmp" in name for name in store_fingerprint(layout.store))
