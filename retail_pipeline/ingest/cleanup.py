"""What killed runs leave behind, found and removed: temporary files and unfinished ingestions.

Every write in the data folder goes to a hidden temporary name and is renamed into place
(``platform/atomic.py``, chart and registry writes, backup staging folders), so a process
killed mid-write leaves a hidden ``.<name>...tmp`` file (or folder) that nothing will ever
read. ``clean`` removes those in ``store/``, ``archive/``, ``quarantine/``, ``backups/``,
``charts/`` and ``models/`` once they are older than a grace period
(``RETAIL_TEMP_GRACE_SECONDS``), so a write still running in another process is never hit.
``incoming/`` is not touched: hidden names there are uploads still being written.

Under the ingestion lock (taken without waiting; when an ingestion runs the store and the
backups are left for the next look) it also finishes what a killed ingestion left:

* a multi-table commit whose journal was written is rolled forward; a table version
  written before the journal (``.<entity>.pending.parquet`` without ``commit.json``: a file,
  or a link to a version folder that the next commit of that table removes) is removed;
* a backup taken for an upload that never reached the ledger is removed, with that
  upload's history files, when the tables did not change after it (the next backup, or
  the current store, holds the same tables): the upload applied nothing. When the tables
  did change (a run killed after consolidating), the backup is the only way back and is
  kept, with a line saying so.

Each removal is one line (returned, and passed to ``log``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from retail_pipeline.contract import ENTITIES
from retail_pipeline.ingest import backups as backups_module
from retail_pipeline.ingest.incoming import hash_path
from retail_pipeline.ingest.ledger import UPLOAD_ID_LENGTH, Ledger
from retail_pipeline.ingest.store import JOURNAL, TableStore, table_files
from retail_pipeline.platform import settings
from retail_pipeline.platform.layout import DataLayout

TEMP = re.compile(r"^\..+\.tmp$")  # atomic writes, charts, backup staging folders
MKSTEMP = re.compile(r"^\..+\.[a-z0-9_]{8}$")  # the model registry's temporary files
PENDING = re.compile(r"^\.(?P<entity>\w+)\.pending\.parquet$")  # store: before the journal
UPLOAD_LABEL = re.compile(rf"^[0-9a-f]{{{UPLOAD_ID_LENGTH}}}$")


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)  # one line per thing removed
    kept: list[str] = field(default_factory=list)  # leftovers that need a person
    skipped: list[str] = field(default_factory=list)  # what could not be looked at now

    @property
    def lines(self) -> list[str]:
        return self.removed + self.kept + self.skipped


@contextlib.contextmanager
def try_lock(lock_file: Path) -> Iterator[bool]:
    """The ingestion lock if it is free right now (``True``), without waiting."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _is_temp(name: str, registry: bool) -> bool:
    return bool(TEMP.match(name) or (registry and MKSTEMP.match(name)))


def stale_temporaries(folder: Path, cutoff: float, registry: bool = False) -> Iterator[Path]:
    """Hidden temporary files and folders under ``folder`` last changed before ``cutoff``."""
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder):  # never follows links
        for name in [*dirs, *files]:
            if not _is_temp(name, registry):
                continue
            path = Path(root) / name
            if name in dirs:
                dirs.remove(name)  # a temporary folder goes whole; do not look inside
            try:
                if os.lstat(path).st_mtime < cutoff:
                    yield path
            except FileNotFoundError:
                continue


def _remove(path: Path) -> None:
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _age(path: Path, now: float) -> str:
    try:
        seconds = now - os.lstat(path).st_mtime
    except FileNotFoundError:
        return "?"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def clean(layout: DataLayout, grace_seconds: float | None = None, now: float | None = None,
          log: Callable[[str], None] | None = None, locked: bool = False) -> CleanupReport:
    """Remove stale temporaries and finish or remove what killed ingestions left.

    ``locked=True``: the caller holds the ingestion lock already (``ingest_file``).
    """
    grace = settings.temp_grace_seconds() if grace_seconds is None else grace_seconds
    now = time.time() if now is None else now
    report = CleanupReport()
    say = log or (lambda line: None)

    def removed(line: str) -> None:
        report.removed.append(line)
        say(line)

    cutoff = now - grace
    for folder, registry in ((layout.archive, False), (layout.quarantine, False),
                             (layout.charts, False), (layout.models, True)):
        for path in list(stale_temporaries(folder, cutoff, registry)):
            age = _age(path, now)
            with contextlib.suppress(FileNotFoundError):
                _remove(path)
                removed(f"removed stale temporary {path} (untouched for {age})")
    if locked:
        _clean_store(layout, cutoff, now, report, removed, say)
        return report
    with try_lock(layout.store / backups_module.LOCK_FILE) as free:
        if free:
            _clean_store(layout, cutoff, now, report, removed, say)
        else:
            line = "store/ and backups/ not checked: an ingestion is running"
            report.skipped.append(line)
            say(line)
    return report


def _clean_store(layout: DataLayout, cutoff: float, now: float, report: CleanupReport,
                 removed: Callable[[str], None], say: Callable[[str], None]) -> None:
    """The part that needs the ingestion lock: store temporaries, commits, orphan backups."""
    if (layout.store / JOURNAL).exists():
        TableStore(layout.store).roll_forward()
        removed(f"finished the multi-table commit a killed ingestion left ({layout.store / JOURNAL})")
    for folder in (layout.store, layout.backups):
        for path in list(stale_temporaries(folder, cutoff)):
            age = _age(path, now)
            with contextlib.suppress(FileNotFoundError):
                _remove(path)
                removed(f"removed stale temporary {path} (untouched for {age})")
    if layout.store.is_dir():
        for path in layout.store.iterdir():
            match = PENDING.match(path.name)
            if match and match["entity"] in ENTITIES and os.lstat(path).st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed(f"removed {path}: a table version written before its commit by a killed "
                        "ingestion (the table itself was never changed)")
    _orphan_backups(layout, report, removed, say)


def _tables(folder: Path) -> dict[str, Path]:
    """Every file of every consolidated table in ``folder`` (a table of parts gives one per
    part) by its name relative to ``folder``."""
    return {str(part.relative_to(folder)): part
            for e in ENTITIES for part in table_files(folder / f"{e}.parquet")}


def same_tables(a: Path, b: Path) -> bool:
    """Whether two folders hold byte-identical consolidated tables (and the same set)."""
    left, right = _tables(a), _tables(b)
    if left.keys() != right.keys():
        return False
    for name, path in left.items():
        if path.stat().st_size != right[name].stat().st_size:
            return False
    return all(hash_path(path) == hash_path(right[name]) for name, path in left.items())


def _orphan_backups(layout: DataLayout, report: CleanupReport,
                    removed: Callable[[str], None], say: Callable[[str], None]) -> None:
    found = backups_module.list_backups(layout)
    if not found:
        return
    finished = Ledger(layout.store).upload_ids()
    for i, backup in enumerate(found):
        label = backup.id.rsplit("-", 1)[-1]
        if not UPLOAD_LABEL.match(label) or label in finished:
            continue
        after = found[i + 1].path if i + 1 < len(found) else layout.store
        if same_tables(backup.path, after):
            shutil.rmtree(backup.path)
            removed(f"removed backup {backup.id}: upload {label} never finished and changed no "
                    "table (an ingestion killed or refused before it consolidated)")
            for history in sorted(layout.history.glob(f"*/{label}.parquet")):
                history.unlink(missing_ok=True)
                removed(f"removed {history}: history of the unfinished upload {label}")
        else:
            line = (f"kept backup {backup.id}: upload {label} is not in the ledger but the tables "
                    "changed after this backup (a run killed after consolidating?); ingest the "
                    f"file again to finish it, or `retail-pipeline backups restore {backup.id}`")
            report.kept.append(line)
            say(line)
