"""Snapshots of the consolidated tables, taken before every ingestion that changes them.

A backup is a folder ``backups/<UTC timestamp>-<label>/`` holding a copy of every
consolidated Parquet table and of the ledger, plus ``manifest.json``. A table stored as a
folder of parts is backed up as a folder of hard links to its part files (parts are never
changed in place), so a backup of a large table costs no copy. It is assembled in a
hidden temporary folder and renamed into place, so a listed backup is always complete.
The newest ``keep`` backups are kept. Restoring first backs up the current state, then
puts every table back with an atomic replace (tables absent from the backup are removed),
and restores the ledger too, so that files ingested after the backup can be dropped again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from retail_pipeline.contract import ENTITIES
from retail_pipeline.ingest.ledger import LEDGER_FILE
from retail_pipeline.ingest.store import TableStore, copy_table, table_rows
from retail_pipeline.platform import atomic
from retail_pipeline.platform.layout import DataLayout

DEFAULT_KEEP = 10
MANIFEST = "manifest.json"
LOCK_FILE = ".ingest.lock"


class BackupNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class Backup:
    id: str
    path: Path
    created_at: str
    reason: str
    tables: dict[str, int]  # entity -> rows


def _store_files(store: Path) -> list[Path]:
    files = [store / f"{entity}.parquet" for entity in ENTITIES]
    return [f for f in [*files, store / LEDGER_FILE] if f.exists()]


def create_backup(layout: DataLayout, label: str, reason: str, keep: int = DEFAULT_KEEP) -> Backup:
    """Snapshot the consolidated tables now; the caller holds the ingestion lock."""
    now = dt.datetime.now(dt.UTC)
    backup_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{label}"
    target = layout.backups / backup_id
    staging = layout.backups / f".{backup_id}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tables = {}
    for source in _store_files(layout.store):
        if source.suffix == ".parquet":
            copy_table(source, staging / source.name)
            tables[source.stem] = table_rows(source)
        else:
            shutil.copyfile(source, staging / source.name)
    manifest = {"id": backup_id, "created_at": now.isoformat(), "reason": reason, "tables": tables}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(staging, target)
    prune(layout, keep)
    return Backup(backup_id, target, manifest["created_at"], reason, tables)


def list_backups(layout: DataLayout) -> list[Backup]:
    """Complete backups, oldest first."""
    if not layout.backups.exists():
        return []
    found = []
    for folder in sorted(layout.backups.iterdir()):
        manifest = folder / MANIFEST
        if folder.name.startswith(".") or not manifest.exists():
            continue
        spec = json.loads(manifest.read_text(encoding="utf-8"))
        found.append(Backup(folder.name, folder, spec["created_at"], spec["reason"], spec["tables"]))
    return found


def find_backup(layout: DataLayout, label: str) -> Backup | None:
    """The backup taken for ``label`` (an upload id) by an earlier, interrupted run."""
    return next((b for b in reversed(list_backups(layout)) if b.id.endswith(f"-{label}")), None)


def prune(layout: DataLayout, keep: int) -> list[str]:
    removed = []
    for backup in list_backups(layout)[: max(0, len(list_backups(layout)) - max(1, keep))]:
        shutil.rmtree(backup.path)
        removed.append(backup.id)
    return removed


def restore_backup(layout: DataLayout, backup_id: str, keep: int = DEFAULT_KEEP) -> Backup:
    """Put the consolidated tables and ledger back as they were in ``backup_id``."""
    backups = {b.id: b for b in list_backups(layout)}
    if backup_id not in backups:
        known = ", ".join(backups) or "none"
        raise BackupNotFoundError(f"no backup {backup_id!r} in {layout.backups} (known: {known})")
    with atomic.locked(layout.store / LOCK_FILE):
        TableStore(layout.store).roll_forward()  # a pending commit must not land on top later
        source = backups[backup_id]
        # copy out first: pruning after the safety backup may remove the one being restored
        staging = layout.backups / f".restore-{backup_id}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in [f"{e}.parquet" for e in ENTITIES]:
            if (source.path / name).exists():
                copy_table(source.path / name, staging / name)
        if (source.path / LEDGER_FILE).exists():
            shutil.copyfile(source.path / LEDGER_FILE, staging / LEDGER_FILE)
        create_backup(layout, "before-restore", f"state before restoring {backup_id}", keep=keep + 1)
        store = TableStore(layout.store)
        for entity in ENTITIES:
            if (staging / f"{entity}.parquet").exists():
                store.restore(entity, staging / f"{entity}.parquet")
            else:
                store.remove(entity)
        if (staging / LEDGER_FILE).exists():
            atomic.copy(staging / LEDGER_FILE, layout.store / LEDGER_FILE)
        else:
            (layout.store / LEDGER_FILE).unlink(missing_ok=True)
        shutil.rmtree(staging)
        prune(layout, keep)
    return source
