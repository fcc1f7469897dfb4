"""The one entry point that takes an upload: check it, then apply it exactly once.

``check_file`` reads and validates without writing anything. ``ingest_file`` runs the
same read, then either quarantines the file with its reasons, or applies it in this order:

1. ``backup``: snapshot of the consolidated tables (reused if an interrupted run of the
   same upload already took one, so it always shows the state before this upload);
2. ``history``: the upload's typed rows to ``store/history/<entity>/<upload_id>.parquet``;
3. ``consolidate``: each entity's table merged by key; all tables of the upload replaced
   as one commit (``TableStore.upsert_many``);
4. ``ledger``: the content hash recorded as applied;
5. ``archive``: the file moved byte for byte to ``archive/``.

Every step is an atomic replace and every step is idempotent (re-writing the same history
file, re-merging the same rows, recording the same hash), so a run killed between any two
steps and run again ends exactly like one clean run; once the hash is in the ledger a
re-run only archives the file. ``on_step`` is called after each step (tests use it to
simulate a crash). An exclusive file lock serialises concurrent ingestions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retail_pipeline.contract import Problem
from retail_pipeline.ingest import backups
from retail_pipeline.ingest.incoming import stable_files
from retail_pipeline.ingest.ledger import Ledger, upload_id
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.reader import Parsed, UploadRejected, read_upload
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform import atomic
from retail_pipeline.platform.layout import DataLayout

STEPS = ("backup", "history", "consolidate", "ledger", "archive")
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve_mapping(mapping: Mapping | Path | str | None) -> Mapping | None:
    """A Mapping, or a path to a mapping YAML; raises ContractError for a broken mapping."""
    if mapping is None or isinstance(mapping, Mapping):
        return mapping
    return Mapping.load(mapping)


@dataclass
class CheckResult:
    """What ``check`` found; ``accepted`` says whether ingestion would take the file."""

    file: str
    sha256: str
    format: str | None
    entity: str | None
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    total_problems: int = 0

    @property
    def accepted(self) -> bool:
        return self.total_problems == 0

    @property
    def upload_id(self) -> str:
        return upload_id(self.sha256)

    def summary(self) -> str:
        if self.accepted:
            tables = ", ".join(f"{n:,} {e} rows" for e, n in self.rows.items())
            return f"{self.file}: OK, {self.format}: {tables}"
        first = "; ".join(str(p) for p in self.problems[:3])
        return (f"{self.file} would be rejected ({self.format or 'format not recognised'}): "
                f"{self.total_problems} problem(s). First: {first}")


@dataclass
class IngestResult:
    """The outcome of one upload: accepted, duplicate (already ingested) or rejected."""

    file: str
    sha256: str
    status: str
    format: str | None
    entity: str | None
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    total_problems: int = 0
    archive_path: Path | None = None
    quarantine_path: Path | None = None
    error_path: Path | None = None
    backup_id: str | None = None
    summary: str = ""

    @property
    def upload_id(self) -> str:
        return upload_id(self.sha256)

    @property
    def accepted(self) -> bool:
        return self.status != REJECTED

    @property
    def changed_tables(self) -> bool:
        return self.status == ACCEPTED


def _check_bytes(raw: bytes, name: str, mapping: Mapping | None,
                 sha: str | None = None) -> tuple[CheckResult, Parsed | None]:
    sha = sha or sha256_of(raw)
    try:
        parsed = read_upload(raw, name, mapping)
    except UploadRejected as exc:
        return CheckResult(name, sha, exc.format, exc.entity, {}, exc.problems, exc.total), None
    entity = next(iter(parsed.tables))
    rows = {e: len(f) for e, f in parsed.tables.items()}
    return CheckResult(name, sha, parsed.format, entity, rows), parsed


def check_file(path: Path | str, mapping: Mapping | Path | str | None = None) -> CheckResult:
    """Read and validate ``path`` exactly as ingestion would; writes nothing."""
    mapping = resolve_mapping(mapping)  # a broken mapping is reported before the file is read
    path = Path(path)
    return _check_bytes(path.read_bytes(), path.name, mapping)[0]


def _lock(layout: DataLayout) -> Path:
    return layout.store / backups.LOCK_FILE


def _free_name(folder: Path, name: str, sha: str, raw: bytes | None = None) -> tuple[Path, bool]:
    """``folder/name``, or ``name`` with a hash suffix when another content holds that name.

    Returns the target and whether it already holds exactly these bytes.
    """
    target = folder / name
    if target.exists():
        if raw is not None and target.stat().st_size == len(raw) and target.read_bytes() == raw:
            return target, True
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}.{sha[:12]}{dot}{suffix}"
        if target.exists():
            return target, True
    return target, False


def _set_aside(path: Path, layout: DataLayout, folder: Path, sha: str, raw: bytes) -> Path:
    """Move (from incoming/) or copy (from anywhere else) the upload into ``folder``."""
    target, present = _free_name(folder, path.name, sha, raw)
    inside_incoming = path.resolve().parent == layout.incoming.resolve()
    if present:
        if inside_incoming:
            path.unlink(missing_ok=True)
        return target
    if inside_incoming:
        return atomic.move(path, target)
    return atomic.copy(path, target)


def _reject(path: Path, layout: DataLayout, check: CheckResult, raw: bytes) -> IngestResult:
    target, _ = _free_name(layout.quarantine, path.name, check.sha256, raw)
    error_path = target.with_name(target.name + ".error.json")
    summary = (f"{path.name} was rejected and nothing was stored: {check.total_problems} problem(s) "
               f"({check.format or 'format not recognised'}). "
               + " ".join(f"[{i + 1}] {p}." for i, p in enumerate(check.problems[:5]))
               + (f" ... and {check.total_problems - 5} more." if check.total_problems > 5 else "")
               + " Fix the file and drop it into incoming/ again.")
    atomic.write_json(error_path, {
        "file": path.name,
        "sha256": check.sha256,
        "entity": check.entity,
        "format": check.format,
        "problems": [p.as_dict() for p in check.problems],
        "total": check.total_problems,
        "summary": summary,
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
    })
    quarantined = _set_aside(path, layout, layout.quarantine, check.sha256, raw)
    return IngestResult(path.name, check.sha256, REJECTED, check.format, check.entity, {},
                        check.problems, check.total_problems, quarantine_path=quarantined,
                        error_path=error_path, summary=summary)


def _duplicate(path: Path, layout: DataLayout, entry: dict, sha: str, raw: bytes) -> IngestResult:
    archived = _set_aside(path, layout, layout.archive, sha, raw)
    return IngestResult(path.name, sha, DUPLICATE, entry.get("format"), entry.get("entity"),
                        entry.get("rows", {}), archive_path=archived,
                        summary=f"{path.name}: same content as {entry.get('file')} (upload "
                                f"{upload_id(sha)}, ingested {entry.get('ingested_at')}); "
                                "nothing changed, the file was archived")


def ingest_file(
    path: Path | str,
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    on_step: Callable[[str], None] | None = None,
) -> IngestResult:
    """Validate ``path`` and apply it to the consolidated tables exactly once.

    Files inside ``layout.incoming`` are moved to archive/ or quarantine/; files elsewhere
    are copied there and left in place. Raises ContractError only for a broken mapping.
    """
    path = Path(path)
    layout.ensure()
    mapping = resolve_mapping(mapping)
    raw = path.read_bytes()
    sha = sha256_of(raw)
    ledger = Ledger(layout.store)
    entry = ledger.get(sha)
    if entry is not None:
        return _duplicate(path, layout, entry, sha, raw)
    check, parsed = _check_bytes(raw, path.name, mapping, sha)
    if parsed is None:
        return _reject(path, layout, check, raw)
    step = on_step or (lambda name: None)
    uid = upload_id(sha)
    store = TableStore(layout.store)
    with atomic.locked(_lock(layout)):
        store.roll_forward()  # finish a commit a killed run left behind
        entry = ledger.get(sha)  # another run may have applied it while we were reading
        if entry is not None:
            return _duplicate(path, layout, entry, sha, raw)
        backup = backups.find_backup(layout, uid) or backups.create_backup(
            layout, uid, f"before ingesting {path.name}", keep=keep_backups)
        step("backup")
        history = {entity: layout.history / entity / f"{uid}.parquet" for entity in parsed.tables}
        for entity, frame in parsed.tables.items():
            atomic.write_parquet(history[entity], frame)
        step("history")
        store.upsert_many(parsed.tables, written=history)
        step("consolidate")
        ledger.record(sha, {
            "upload_id": uid, "file": path.name, "format": check.format, "entity": check.entity,
            "rows": check.rows, "backup": backup.id,
            "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
        })
        step("ledger")
        archived = _set_aside(path, layout, layout.archive, sha, raw)
        step("archive")
    tables = ", ".join(f"{n:,} {e} rows" for e, n in check.rows.items())
    return IngestResult(path.name, sha, ACCEPTED, check.format, check.entity, check.rows,
                        archive_path=archived, backup_id=backup.id,
                        summary=f"{path.name}: accepted {tables} ({check.format}); archived as "
                                f"{archived.name}; backup {backup.id}")


def ingest_pending(
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    settle_seconds: float = 2.0,
) -> list[IngestResult]:
    """Ingest every stable file in ``incoming/`` (oldest first), one after another."""
    layout.ensure()
    mapping = resolve_mapping(mapping)
    return [ingest_file(p, layout, mapping, keep_backups)
            for p in stable_files(layout.incoming, settle_seconds)]
