"""The one entry point that takes an upload: check it, then apply it exactly once.

``check_file`` reads and validates without writing anything. ``ingest_file`` reads the
file once (``incoming.read_snapshot``: an entry of ``incoming/`` that is not a regular
file is refused and moved aside without being opened), runs the same read, then either
quarantines the file with its reasons, or applies it in this order:

1. ``backup``: snapshot of the consolidated tables (reused if an interrupted run of the
   same upload already took one, so it always shows the state before this upload);
2. ``history``: the upload's typed rows to ``store/history/<entity>/<upload_id>.parquet``;
3. ``consolidate``: each entity's table merged by key; all tables of the upload replaced
   as one commit (``TableStore.upsert_many``);
4. ``ledger``: the content hash recorded as applied;
5. ``archive``: the bytes that were read copied to ``archive/`` and verified there (size
   and sha256); only then is the original removed from ``incoming/``, and only if it is
   still exactly what was read (a file written to after it was read stays, to be taken
   again whole).

Every step is an atomic replace and every step is idempotent (re-writing the same history
file, re-merging the same rows, recording the same hash), so a run killed between any two
steps and run again ends exactly like one clean run; once the hash is in the ledger a
re-run only archives the file. ``on_step`` is called after each step (tests use it to
simulate a crash). An exclusive file lock serialises concurrent ingestions.

Refusals for size (``RETAIL_MAX_UPLOAD_MB``, checked while decompressing) and width
(``RETAIL_MAX_COLUMNS``) happen while reading, before step 1, so they leave no backup and
no history. ``iter_pending`` ingests everything complete in ``incoming/`` one file at a
time and yields each result as soon as it is known; a file that vanishes (another process
took it), is still open for writing, or fails, is reported and the others go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from retail_pipeline.contract import Problem, RuleCount, by_rule_lines
from retail_pipeline.contract.validation import count_by_rule
from retail_pipeline.ingest import backups, cleanup, incoming
from retail_pipeline.ingest.incoming import NotRegularFileError, Refused, Snapshot
from retail_pipeline.ingest.ledger import Ledger, upload_id
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.reader import Parsed, UploadRejected, read_upload
from retail_pipeline.ingest.sniff import size_text
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform import atomic, settings
from retail_pipeline.platform.layout import DataLayout

STEPS = ("backup", "history", "consolidate", "ledger", "archive")
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
SKIPPED, FAILED = "skipped", "failed"  # not taken now (left in place), or an unexpected error


@dataclass(frozen=True)
class Limits:
    """Bounds on what one upload may hold (see ``platform.settings``)."""

    max_bytes: int
    max_columns: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(settings.max_upload_bytes(), settings.max_columns())


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
    by_rule: dict[str, RuleCount] = field(default_factory=dict)

    def __post_init__(self):
        if self.problems and not self.by_rule:
            self.by_rule = count_by_rule(self.problems)

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
    """The outcome of one upload: accepted, duplicate (already ingested), rejected, or
    skipped / failed (not taken now: the file was left where it was)."""

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
    by_rule: dict[str, RuleCount] = field(default_factory=dict)
    note: str = ""  # something the operator should know (e.g. the original was left in place)

    def __post_init__(self):
        if self.problems and not self.by_rule:
            self.by_rule = count_by_rule(self.problems)

    @property
    def upload_id(self) -> str:
        return upload_id(self.sha256)

    @property
    def accepted(self) -> bool:
        return self.status in (ACCEPTED, DUPLICATE)

    @property
    def changed_tables(self) -> bool:
        return self.status == ACCEPTED


def _check_bytes(raw: bytes, name: str, mapping: Mapping | None, sha: str | None = None,
                 limits: Limits | None = None) -> tuple[CheckResult, Parsed | None]:
    sha = sha or sha256_of(raw)
    limits = limits or Limits.from_settings()
    try:
        parsed = read_upload(raw, name, mapping, limits.max_bytes, limits.max_columns)
    except UploadRejected as exc:
        return (CheckResult(name, sha, exc.format, exc.entity, {}, exc.problems, exc.total, exc.by_rule),
                None)
    entity = next(iter(parsed.tables))
    rows = {e: len(f) for e, f in parsed.tables.items()}
    return CheckResult(name, sha, parsed.format, entity, rows), parsed


def _too_large(snapshot: Snapshot, limits: Limits) -> CheckResult:
    rule = (f"the file is {size_text(snapshot.size)}; at most {size_text(limits.max_bytes)} of data "
            "are accepted (RETAIL_MAX_UPLOAD_MB): split the export into smaller files")
    return CheckResult(snapshot.name, snapshot.sha256, None, None, {},
                       [Problem(snapshot.name, None, None, None, rule)], 1)


def _check_snapshot(snapshot: Snapshot, mapping: Mapping | None,
                    limits: Limits) -> tuple[CheckResult, Parsed | None]:
    if snapshot.raw is None:
        return _too_large(snapshot, limits), None
    return _check_bytes(snapshot.raw, snapshot.name, mapping, snapshot.sha256, limits)


def check_file(path: Path | str, mapping: Mapping | Path | str | None = None,
               limits: Limits | None = None) -> CheckResult:
    """Read and validate ``path`` exactly as ingestion would; writes nothing."""
    mapping = resolve_mapping(mapping)  # a broken mapping is reported before the file is read
    limits = limits or Limits.from_settings()
    path = Path(path)
    try:
        snapshot = incoming.read_snapshot(path, limits.max_bytes, follow=True)
    except NotRegularFileError as exc:
        rule = f"'{path.name}' is a {exc.kind}, not a regular file; it was not read"
        return CheckResult(path.name, "", None, None, {}, [Problem(path.name, None, None, None, rule)], 1)
    return _check_snapshot(snapshot, mapping, limits)[0]


def _lock(layout: DataLayout) -> Path:
    return layout.store / backups.LOCK_FILE


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is an entry of ``folder`` (the entry itself is not resolved: a link
    in ``incoming/`` is inside it wherever it points)."""
    return path.absolute().parent.resolve() == folder.resolve()


def _holds(target: Path, sha: str, size: int) -> bool:
    if not sha:  # a file that was not read (too large) is never taken for another
        return False
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return False
    return (os.path.isfile(target) and not os.path.islink(target) and info.st_size == size
            and incoming.hash_path(target) == (size, sha))


def _free_name(folder: Path, name: str, sha: str, size: int) -> tuple[Path, bool]:
    """``folder/name``, or ``name`` with a hash suffix when another content holds that name.

    Returns the target and whether it already holds exactly these bytes.
    """
    target = folder / name
    if not os.path.lexists(target):
        return target, False
    if _holds(target, sha, size):
        return target, True
    stem, dot, suffix = name.partition(".")
    tags = [sha[:12], sha] if sha else []
    tags += [f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}-{n}" for n in range(1, 100)]
    for tag in tags:
        target = folder / f"{stem}.{tag}{dot}{suffix}"
        if not os.path.lexists(target) or _holds(target, sha, size):
            return target, os.path.lexists(target)
    raise FileExistsError(f"{target} exists with other content")


def _copy_stream(source: Path, target: Path) -> None:
    """Copy a file too large to hold in memory, never following a final link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    with atomic.replacing(target) as tmp, os.fdopen(os.open(source, flags), "rb") as src, \
            open(tmp, "wb") as dst:
        for block in iter(lambda: src.read(incoming.READ_BLOCK), b""):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())


def _keep_copy(snapshot: Snapshot, folder: Path) -> Path:
    """The bytes that were read, copied into ``folder`` and verified there (size and sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    target, present = _free_name(folder, snapshot.name, snapshot.sha256, snapshot.size)
    if present:
        return target
    if snapshot.raw is not None:
        atomic.write_bytes(target, snapshot.raw)
    else:
        _copy_stream(snapshot.path, target)
    size, sha = incoming.hash_path(target)
    if size != snapshot.size or (snapshot.sha256 and sha != snapshot.sha256):
        target.unlink(missing_ok=True)
        raise OSError(f"the copy of {snapshot.name} in {folder} does not match what was read "
                      "(size or sha256 differ); the original was left in place")
    return target


def _move_unread(snapshot: Snapshot, folder: Path) -> Path | None:
    """A file refused for its size is moved (renamed), not copied: a hostile file must not
    fill the disk twice. ``None`` when it changed since it was looked at or lives on another
    file system (then it is copied like any other)."""
    folder.mkdir(parents=True, exist_ok=True)
    target, present = _free_name(folder, snapshot.name, snapshot.sha256, snapshot.size)
    try:
        info = os.lstat(snapshot.path)
    except FileNotFoundError:
        return target if present else None
    if (info.st_size, info.st_mtime_ns, (info.st_dev, info.st_ino)) != (
            snapshot.size, snapshot.mtime_ns, snapshot.inode):
        return None
    if present:
        incoming.release(snapshot)
        return target
    try:
        os.rename(snapshot.path, target)
    except OSError:
        return None
    return target


def _set_aside(snapshot: Snapshot, folder: Path, from_incoming: bool) -> tuple[Path | None, str]:
    """Copy the upload into ``folder`` (verified), then remove the original from incoming/
    if it is still what was read; files elsewhere are left in place (and one too large to
    read is not copied from there at all: ``None``)."""
    if snapshot.raw is None:
        if not from_incoming:
            return None, ""
        moved = _move_unread(snapshot, folder)
        if moved is not None:
            return moved, ""
    target = _keep_copy(snapshot, folder)
    note = incoming.release(snapshot) if from_incoming else None
    return target, note or ""


def _with_note(summary: str, note: str) -> str:
    return f"{summary} ({note})" if note else summary


def _reject(snapshot: Snapshot, layout: DataLayout, check: CheckResult, from_incoming: bool) -> IngestResult:
    target, _ = _free_name(layout.quarantine, snapshot.name, check.sha256, snapshot.size)
    error_path = target.with_name(target.name + ".error.json")
    summary = (f"{snapshot.name} was rejected and nothing was stored: {check.total_problems} problem(s) "
               f"({check.format or 'format not recognised'}). "
               + ("Per rule: " + " ".join(f"{line}." for line in by_rule_lines(check.by_rule)) + " Row by row: "
                  if check.by_rule else "")
               + " ".join(f"[{i + 1}] {p}." for i, p in enumerate(check.problems[:5]))
               + (f" ... and {check.total_problems - 5} more." if check.total_problems > 5 else "")
               + " Fix the file and drop it into incoming/ again.")
    atomic.write_json(error_path, {
        "file": snapshot.name,
        "sha256": check.sha256,
        "entity": check.entity,
        "format": check.format,
        "problems_by_rule": {kind: rc.as_dict() for kind, rc in check.by_rule.items()},
        "problems": [p.as_dict() for p in check.problems],
        "total": check.total_problems,
        "summary": summary,
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
    })
    quarantined, note = _set_aside(snapshot, layout.quarantine, from_incoming)
    return IngestResult(snapshot.name, check.sha256, REJECTED, check.format, check.entity, {},
                        check.problems, check.total_problems, quarantine_path=quarantined,
                        error_path=error_path, summary=_with_note(summary, note), note=note,
                        by_rule=check.by_rule)


def _refused(refused: Refused, layout: DataLayout, from_incoming: bool) -> IngestResult:
    """A non-regular entry: moved aside (from incoming/) without being opened."""
    name = refused.path.name
    if from_incoming:
        moved, error_path, rule = incoming.refuse_entry(refused, layout.quarantine)
    else:
        moved, error_path = None, None
        rule = f"'{name}' is a {refused.kind}, not a regular file; it was not read"
    problem = Problem(name, None, None, None, rule)
    return IngestResult(name, "", REJECTED, None, None, {}, [problem], 1, quarantine_path=moved,
                        error_path=error_path, summary=f"{name} was refused: {rule}")


def _skipped(path: Path, why: str) -> IngestResult:
    return IngestResult(path.name, "", SKIPPED, None, None, summary=f"{path.name}: skipped, {why}",
                        note=why)


def failed_result(path: Path, error: BaseException) -> IngestResult:
    why = f"{type(error).__name__}: {error}"[:300]
    return IngestResult(path.name, "", FAILED, None, None, note=why,
                        summary=f"{path.name}: not ingested ({why}); the file was left in place, "
                                "run again to finish it")


def _duplicate(snapshot: Snapshot, layout: DataLayout, entry: dict, from_incoming: bool) -> IngestResult:
    archived, note = _set_aside(snapshot, layout.archive, from_incoming)
    sha = snapshot.sha256
    summary = (f"{snapshot.name}: same content as {entry.get('file')} (upload {upload_id(sha)}, "
               f"ingested {entry.get('ingested_at')}); nothing changed, the file was archived")
    return IngestResult(snapshot.name, sha, DUPLICATE, entry.get("format"), entry.get("entity"),
                        entry.get("rows", {}), archive_path=archived,
                        summary=_with_note(summary, note), note=note)


def ingest_file(
    path: Path | str,
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    on_step: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> IngestResult:
    """Validate ``path`` and apply it to the consolidated tables exactly once.

    Files inside ``layout.incoming`` are copied to archive/ or quarantine/ and then removed;
    files elsewhere are copied there and left in place. A file that vanished before it
    was read is ``skipped``. Raises ContractError only for a broken mapping.
    """
    path = Path(path)
    layout.ensure()
    mapping = resolve_mapping(mapping)
    limits = limits or Limits.from_settings()
    from_incoming = _inside(path, layout.incoming)
    try:
        snapshot = incoming.read_snapshot(path, limits.max_bytes, follow=not from_incoming)
    except FileNotFoundError:
        return _skipped(path, "it disappeared before it was read (taken by another process?)")
    except NotRegularFileError as exc:
        target = None
        if exc.kind == "symbolic link":
            try:
                target = os.readlink(path)
            except OSError:
                target = None
        return _refused(Refused(path, exc.kind, target), layout, from_incoming)
    sha = snapshot.sha256
    ledger = Ledger(layout.store)
    entry = ledger.get(sha)
    if entry is not None:
        return _duplicate(snapshot, layout, entry, from_incoming)
    check, parsed = _check_snapshot(snapshot, mapping, limits)
    if parsed is None:
        return _reject(snapshot, layout, check, from_incoming)
    step = on_step or (lambda name: None)
    uid = upload_id(sha)
    store = TableStore(layout.store)
    with atomic.locked(_lock(layout)):
        store.roll_forward()  # finish a commit a killed run left behind
        entry = ledger.get(sha)  # another run may have applied it while we were reading
        if entry is not None:
            return _duplicate(snapshot, layout, entry, from_incoming)
        backup = backups.find_backup(layout, uid) or backups.create_backup(
            layout, uid, f"before ingesting {snapshot.name}", keep=keep_backups)
        step("backup")
        history = {entity: layout.history / entity / f"{uid}.parquet" for entity in parsed.tables}
        for entity, frame in parsed.tables.items():
            atomic.write_parquet(history[entity], frame)
        step("history")
        store.upsert_many(parsed.tables, written=history)
        step("consolidate")
        ledger.record(sha, {
            "upload_id": uid, "file": snapshot.name, "format": check.format, "entity": check.entity,
            "rows": check.rows, "backup": backup.id,
            "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
        })
        step("ledger")
        archived, note = _set_aside(snapshot, layout.archive, from_incoming)
        step("archive")
    tables = ", ".join(f"{n:,} {e} rows" for e, n in check.rows.items())
    summary = (f"{snapshot.name}: accepted {tables} ({check.format}); archived as "
               f"{archived.name}; backup {backup.id}")
    return IngestResult(snapshot.name, sha, ACCEPTED, check.format, check.entity, check.rows,
                        archive_path=archived, backup_id=backup.id,
                        summary=_with_note(summary, note), note=note)


def iter_pending(
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    settle_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    writers: Callable[[list[Path]], dict[Path, list[int]] | None] = incoming.open_writers,
    log: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> Iterator[IngestResult]:
    """Ingest every complete file in ``incoming/`` (oldest first), yielding each result as
    soon as it is known.

    First removes what killed runs left (``cleanup.clean``, one ``log`` line each). Entries
    that are not regular files are refused; files that changed between the two looks, or
    that a process holds open for writing, are skipped (left for the next run); a file that
    vanishes or fails is reported and the next one is taken.
    """
    layout.ensure()
    mapping = resolve_mapping(mapping)
    cleanup.clean(layout, log=log)
    stable, changing, seen = incoming.settle(layout.incoming, settle_seconds, sleep)
    for refused in seen.refused:
        yield _refused(refused, layout, from_incoming=True)
    for entry in changing:
        yield _skipped(entry.path, "still being written (it changed during the check); left for "
                                   "the next run")
    busy = writers([e.path for e in stable]) or {}
    for entry in stable:
        if busy.get(entry.path):
            pids = ", ".join(str(p) for p in busy[entry.path])
            yield _skipped(entry.path, f"open for writing by process {pids}; left for the next run")
            continue
        try:
            result = ingest_file(entry.path, layout, mapping, keep_backups, limits=limits)
        except Exception as exc:  # report it and go on with the next file
            result = failed_result(entry.path, exc)
        yield result


def ingest_pending(
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    settle_seconds: float = 2.0,
) -> list[IngestResult]:
    """Every result of ``iter_pending``, as a list."""
    return list(iter_pending(layout, mapping, keep_backups, settle_seconds))
