"""Faults and races around the served tables, on SQLite and PostgreSQL.

Each test reproduces a failure seen with the earlier warehouse (separate autocommitted DROP
and RENAME, one shared staging name, no lock timeout, no retry) and checks it no longer
happens: readers never miss a table, a kill leaves the old table, a blocking reader makes
the refresh fail with the blocker named, a dropped connection is retried, two refreshes at
once both finish with a whole table, and history tables keep exactly their newest rows.
"""

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from retail_pipeline.platform.warehouse import (
    History,
    Warehouse,
    WarehouseLockTimeout,
    WarehouseUnavailable,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'w.db'}"
    return request.getfixturevalue("postgres_url")


def _frame(version: int, rows: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"version": [version] * rows, "i": range(rows)})


def _widen_the_swap(engine: sa.Engine, seconds: float = 0.02) -> None:
    """Pause after every DROP TABLE, so a reader would surely fall into the gap between the
    drop and the rename if they were two commits (as they were: 31 misses in 100 refreshes)."""
    import time

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _pause(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DROP TABLE"):
            time.sleep(seconds)


def test_readers_never_see_a_missing_table_during_refreshes(url):
    writer = Warehouse(url)
    writer.write_table("kpi", _frame(0))
    _widen_the_swap(writer.engine)
    reader = Warehouse(url)
    errors, counts, stop = [], [], threading.Event()

    def poll():
        while not stop.is_set():
            try:
                with reader.engine.connect() as conn:
                    counts.append(conn.execute(sa.text("SELECT COUNT(*) FROM kpi")).scalar_one())
            except sa.exc.DBAPIError as exc:
                errors.append(str(exc.orig))

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        for version in range(1, 51):
            writer.write_table("kpi", _frame(version))
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(counts) > 0 and set(counts) == {200}  # always a whole table
    assert writer.read_table("kpi")["version"].unique().tolist() == [50]
    writer.dispose()
    reader.dispose()


def test_a_killed_refresh_leaves_the_old_table_and_no_staging(url, tmp_path):
    Warehouse(url).write_table("kpi", _frame(1))
    script = textwrap.dedent(f"""
        import os, signal
        import pandas as pd
        from retail_pipeline.platform.warehouse import Warehouse
        real = Warehouse._insert
        def rows_then_die(self, *a, **k):
            real(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)  # after the staging rows, before the swap
        Warehouse._insert = rows_then_die
        Warehouse({url!r}).write_table("kpi", pd.DataFrame({{"version": [2], "i": [0]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    warehouse = Warehouse(url)
    assert warehouse.read_table("kpi")["version"].unique().tolist() == [1]
    assert warehouse.table_names(include_staging=True) == ["kpi"]
    warehouse.dispose()


def test_orphan_staging_tables_of_older_versions_are_dropped(url):
    warehouse = Warehouse(url)
    warehouse.write_table("kpi", _frame(1))
    for orphan in ("kpi__staging", "kpi__stg_0123456789"):
        _frame(0).to_sql(orphan, warehouse.engine, index=False)
    assert sorted(warehouse.drop_orphan_staging()) == ["kpi__staging", "kpi__stg_0123456789"]
    assert warehouse.table_names(include_staging=True) == ["kpi"]
    warehouse.dispose()


def test_two_refreshes_at_once_both_finish_with_a_whole_table(url):
    Warehouse(url).write_table("daily_sales", _frame(0))
    failures = []

    def refresh(version: int):
        warehouse = Warehouse(url)
        try:
            for _ in range(15):
                warehouse.write_table("daily_sales", _frame(version, rows=300))
        except Exception as exc:  # noqa: BLE001 - any failure is what the test looks for
            failures.append(repr(exc))
        finally:
            warehouse.dispose()

    threads = [threading.Thread(target=refresh, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    final = Warehouse(url)
    table = final.read_table("daily_sales")
    assert len(table) == 300 and table["version"].nunique() == 1  # one run's rows, whole
    assert final.table_names(include_staging=True) == ["daily_sales"]
    final.dispose()


def test_refresh_runs_are_serialised_by_the_run_queue():
    from retail_pipeline.definitions import defs
    from retail_pipeline.defs.automation import WRITES_TAG

    definitions = defs()
    assert definitions.resolve_job_def("refresh_all").tags[WRITES_TAG] == "warehouse"
    assert definitions.resolve_job_def("ingest_upload_job").tags[WRITES_TAG] == "store"
    for config in (ROOT / "dagster_home" / "dagster.yaml", ROOT / "deploy" / "postgres" / "dagster.yaml"):
        limits = yaml.safe_load(config.read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
        assert {"key": WRITES_TAG, "value": "warehouse", "limit": 1} in limits, config
        assert {"key": WRITES_TAG, "value": "store", "limit": 1} in limits, config


def test_history_keeps_the_newest_runs_whole(url):
    warehouse = Warehouse(url)
    policy = History(keep_runs=2, index_columns=("series_id",))
    for run in ("r1", "r2", "r3"):
        frame = pd.DataFrame({"series_id": ["a", "b", "c"], "yhat": [1.0, 2.0, 3.0],
                              "run": [run] * 3})
        stats = warehouse.append_history("fc_history", frame, run, policy)
    assert stats == {"appended": 3, "deleted": 3, "kept": 6}
    kept = warehouse.read_table("fc_history")
    assert sorted(kept["run_id"].unique()) == ["r2", "r3"]
    assert kept.groupby("run_id").size().to_dict() == {"r2": 3, "r3": 3}
    assert (kept["run"] == kept["run_id"]).all() and kept["id"].is_unique
    indexes = {ix["name"] for ix in sa.inspect(warehouse.engine).get_indexes("fc_history")}
    assert {"ix_fc_history_run_id", "ix_fc_history_created_at", "ix_fc_history_series_id"} <= indexes
    warehouse.dispose()


def test_history_keeps_the_newest_rows(url):
    warehouse = Warehouse(url)
    for start in range(0, 1200, 300):
        frame = pd.DataFrame({"n": range(start, start + 300)})
        warehouse.append_history("ml_roi_forecast", frame, f"run{start}", History(keep_rows=1000))
    kept = warehouse.read_table("ml_roi_forecast")
    assert len(kept) == 1000 and sorted(kept["n"]) == list(range(200, 1200))
    warehouse.dispose()


def test_a_failed_append_changes_nothing(url, monkeypatch):
    warehouse = Warehouse(url)
    warehouse.append_history("h", pd.DataFrame({"n": [1, 2]}), "r1", History(keep_runs=1))
    real = Warehouse._insert

    def rows_then_crash(self, *a, **k):
        real(self, *a, **k)
        raise RuntimeError("crash after the insert, before the trim commits")

    monkeypatch.setattr(Warehouse, "_insert", rows_then_crash)
    with pytest.raises(RuntimeError):
        warehouse.append_history("h", pd.DataFrame({"n": [3]}), "r2", History(keep_runs=1))
    monkeypatch.undo()
    assert warehouse.read_table("h")["n"].tolist() == [1, 2]
    warehouse.dispose()


def test_a_reader_holding_a_lock_makes_the_refresh_fail_with_the_blocker_named(
        postgres_url, monkeypatch):
    monkeypatch.setenv("RETAIL_PG_LOCK_TIMEOUT_MS", "800")
    warehouse = Warehouse(postgres_url)
    warehouse.write_table("kpi_summary", _frame(1))
    blocker = sa.create_engine(postgres_url)
    with blocker.connect() as conn:
        conn.execute(sa.text("SELECT COUNT(*) FROM kpi_summary"))  # BEGIN; SELECT, left open
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with pytest.raises(WarehouseLockTimeout) as caught:
            warehouse.write_table("kpi_summary", _frame(2))
        conn.rollback()
    message = str(caught.value)
    assert "kpi_summary" in message and f"pid {pid}" in message and "pg_stat_activity" in message
    assert warehouse.read_table("kpi_summary")["version"].unique().tolist() == [1]
    assert warehouse.table_names(include_staging=True) == ["kpi_summary"]
    blocker.dispose()
    warehouse.dispose()


def _terminating(postgres_url, times: int):
    """A COPY replacement that has the server end this connection the first ``times`` calls."""
    from retail_pipeline.platform import warehouse as wh

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    real, calls = wh._copy_insert, []

    def copy(table, conn, keys, rows):
        calls.append(table.name)
        if len(calls) <= times:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with admin.connect() as c:
                c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return real(table, conn, keys, rows)

    return copy, calls, admin


def test_a_dropped_connection_is_retried(postgres_url, monkeypatch):
    from retail_pipeline.platform import warehouse as wh

    warehouse = Warehouse(postgres_url, retries=3, backoff_s=0.05)
    warehouse.write_table("daily_sales", _frame(1))
    copy, calls, admin = _terminating(postgres_url, times=1)
    monkeypatch.setattr(wh, "_copy_insert", copy)
    assert warehouse.write_table("daily_sales", _frame(2)) == 200
    assert len(calls) == 2  # killed once, then the whole transaction ran again
    assert warehouse.read_table("daily_sales")["version"].unique().tolist() == [2]
    admin.dispose()
    warehouse.dispose()


def test_a_database_that_stays_away_is_reported_by_name(postgres_url, monkeypatch):
    from retail_pipeline.platform import warehouse as wh

    with_password = sa.make_url(postgres_url).set(password="s3cret").render_as_string(
        hide_password=False)
    warehouse = Warehouse(postgres_url, retries=2, backoff_s=0.05)
    warehouse.url = wh.normalise_url(with_password)  # as a production URL would carry one
    copy, calls, admin = _terminating(postgres_url, times=99)
    monkeypatch.setattr(wh, "_copy_insert", copy)
    with pytest.raises(WarehouseUnavailable) as caught:
        warehouse.write_table("daily_sales", _frame(1))
    message = str(caught.value)
    assert "went away during the refresh of table daily_sales" in message
    assert "s3cret" not in message and "***" in message and len(calls) == 3
    admin.dispose()
    warehouse.dispose()
