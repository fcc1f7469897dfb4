"""What killed runs leave behind is removed at the start of an ingestion, at each sensor
tick and by `retail-pipeline doctor`; fresh temporaries (a write still running) are left."""

import os
import time

import dagster as dg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from retail_pipeline.cli import app as cli_app
from retail_pipeline.defs.ingest.uploads import incoming_files_sensor
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.backups import list_backups
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.platform.warehouse import STAGING_MARK

from .helpers import GOOD_TX, TX_ROWS, drop, store_fingerprint, tx_csv

HOUR = 3600


def clean(*args, **kwargs):
    from retail_pipeline.ingest.cleanup import clean  # imported late: the CLI tests run on any code

    return clean(*args, **kwargs)


def _age(path, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when), follow_symlinks=False)


def _leftovers(layout: DataLayout) -> tuple[list, list, list]:
    """(stale temporaries, fresh temporaries, files that are not temporaries), as a killed
    atomic write, chart, registry write and backup would leave them."""
    def make(path, age):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith(".tmp") and path.parent == layout.backups:
            path.mkdir()
            (path / "transactions.parquet").write_bytes(b"half a backup")
        else:
            path.write_bytes(b"half written")
        _age(path, age)
        return path

    stale = [
        make(layout.store / ".transactions.parquet.k2j3h4g5.tmp", 2 * HOUR),
        make(layout.history / "transactions" / ".0123456789abcdef.parquet.abcdefgh.tmp", 2 * HOUR),
        make(layout.archive / ".sales.csv.qwertyui.tmp", 2 * HOUR),
        make(layout.quarantine / ".bad.csv.error.json.asdfghjk.tmp", 2 * HOUR),
        make(layout.backups / ".20240101T000000000000Z-0123456789abcdef.tmp", 2 * HOUR),
        make(layout.charts / ".sales_forecast.png.tmp", 2 * HOUR),
        make(layout.models / ".index.json.x1y2z3w4", 2 * HOUR),
    ]
    fresh = [
        make(layout.store / ".customers.parquet.zxcvbnmq.tmp", 5),
        make(layout.archive / ".other.csv.poiuytre.tmp", 5),
        make(layout.charts / ".kpi.png.tmp", 5),
        make(layout.models / ".index.json.a1b2c3d4", 5),
    ]
    kept = [
        make(layout.store / ".ingest.lock", 2 * HOUR),
        make(layout.models / ".lock", 2 * HOUR),
        make(layout.charts / "kpi.png", 2 * HOUR),
        make(layout.incoming / ".upload.csv.part", 2 * HOUR),  # an uploader's own temporary
    ]
    return stale, fresh, kept


def _check(stale, fresh, kept, output: str) -> None:
    assert [p for p in stale if os.path.lexists(p)] == []
    assert all(p.exists() for p in fresh + kept)
    for path in stale:  # one line each
        assert sum(str(path) in line for line in output.splitlines()) == 1, path


def test_ingest_pending_removes_stale_temporaries_and_leaves_fresh_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    layout = DataLayout(tmp_path / "data").ensure()
    stale, fresh, kept = _leftovers(layout)
    drop(layout, "sales.csv", GOOD_TX)
    result = CliRunner().invoke(cli_app, ["ingest", "--pending", "--settle", "0"])
    assert result.exit_code == 0, result.output
    _check(stale, fresh, kept, result.output)
    assert "accepted sales.csv" in result.output


def test_sensor_tick_removes_stale_temporaries(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    stale, fresh, kept = _leftovers(layout)
    lines = []
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance,
                                          resources={"data_dir": DataDirResource(root=str(layout.root))})
        original = context.log.info
        context.log.info = lambda message, *a, **k: (lines.append(message), original(message, *a, **k))
        incoming_files_sensor(context)
    _check(stale, fresh, kept, "\n".join(lines))


def test_cleanup_waits_for_a_running_ingestion_before_touching_store_and_backups(layout):
    from retail_pipeline.platform import atomic

    stale, fresh, kept = _leftovers(layout)
    with atomic.locked(layout.store / ".ingest.lock"):  # another ingestion holds the lock
        report = clean(layout)
    assert stale[0].exists() and stale[4].exists()  # store/ and backups/: not now
    assert not stale[2].exists() and not stale[5].exists()  # archive/, charts/: yes
    assert report.skipped == ["store/ and backups/ not checked: an ingestion is running"]
    clean(layout)
    assert not stale[0].exists() and not stale[4].exists()


class Killed(RuntimeError):
    pass


def _kill_at(step):
    def crash(done):
        if done == step:
            raise Killed(step)
    return crash


def test_orphan_backup_and_history_of_an_unfinished_ingestion_are_removed(layout):
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    kept_backup = list_backups(layout)[0]
    before = store_fingerprint(layout.store)
    update = tx_csv(TX_ROWS[0].replace("9.99", "7.50"))
    with pytest.raises(Killed):
        ingest_file(drop(layout, "b.csv", update), layout, on_step=_kill_at("history"))
    orphan = list_backups(layout)[-1]
    [history] = [p for p in layout.history.rglob("*.parquet") if p.stem != Ledger(layout.store).get(
        next(iter(Ledger(layout.store).entries())))["upload_id"]]
    (layout.incoming / "b.csv").unlink()  # the uploader gave up on it

    report = clean(layout)
    assert [b.id for b in list_backups(layout)] == [kept_backup.id]
    assert not history.exists()
    assert store_fingerprint(layout.store) == before
    assert any(orphan.id in line for line in report.removed)
    assert any(str(history) in line for line in report.removed)


def test_a_backup_of_a_partly_applied_ingestion_is_kept_and_reported(layout):
    ingest_file(drop(layout, "a.csv", GOOD_TX), layout)
    with pytest.raises(Killed):
        ingest_file(drop(layout, "b.csv", tx_csv("T9,C1,P1,S1,1,1.00,2024-01-09,cash")), layout,
                    on_step=_kill_at("consolidate"))
    orphan = list_backups(layout)[-1]
    report = clean(layout)
    assert orphan.path.exists() and report.removed == []
    [line] = report.kept
    assert orphan.id in line and "backups restore" in line
    # finishing the upload makes it a normal backup again
    assert ingest_file(layout.incoming / "b.csv", layout).status == "accepted"
    assert clean(layout).kept == []


def test_doctor_cleans_the_data_folder_and_drops_orphan_staging_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RETAIL_WAREHOUSE_URL", raising=False)
    layout = DataLayout(tmp_path / "data").ensure()
    stale, fresh, kept = _leftovers(layout)
    engine = sa.create_engine(f"sqlite:///{layout.root / 'warehouse.db'}")
    orphan_table = f"kpis{STAGING_MARK}deadbeef"
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE kpis (x INTEGER)"))
        conn.execute(sa.text(f'CREATE TABLE "{orphan_table}" (x INTEGER)'))
    engine.dispose()

    result = CliRunner().invoke(cli_app, ["doctor"])
    assert result.exit_code == 0, result.output
    _check(stale, fresh, kept, result.output)
    assert f"dropped orphan staging table {orphan_table}" in result.output
    assert set(sa.inspect(sa.create_engine(f"sqlite:///{layout.root / 'warehouse.db'}")).get_table_names()) == {"kpis"}

    with_grace = CliRunner().invoke(cli_app, ["doctor", "--grace", "0"])
    assert with_grace.exit_code == 0 and all(not os.path.lexists(p) for p in fresh)
    assert "nothing to clean" in CliRunner().invoke(cli_app, ["doctor"]).output
