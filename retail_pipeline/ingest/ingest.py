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

Partial acceptance: a file whose rows that break the contract are at most
``RETAIL_MAX_BAD_ROW_SHARE`` of its rows (1%; 0 with ``RETAIL_STRICT_UPLOADS`` or
``strict=True``) is applied without them (status ``partial``): each problem of those rows
(row, column, value, rule) goes to ``quarantine/<file>.rejected.csv``, written before step 1
(idempotent: the same bytes each time), and the result and ledger entry say how many rows
were accepted and how many quarantined. Above the threshold the file is rejected whole:
``<file>.error.json`` (and ``<file>.rejected.csv`` for row problems) beside it in quarantine/.

Replacing stored rows is reported: how many rows of the table as it was before the upload
have a key the upload gives again (counted by the consolidation step, which reads only the
key columns; a re-run after a crash counts against this upload's backup instead, so it
reports the same), and which earlier uploads (their history files) those keys came from;
``IngestResult.replaced_most`` lists earlier uploads of which more than half the rows were
replaced.

Refusals for size (``RETAIL_MAX_UPLOAD_MB``, checked while decompressing) and width
(``RETAIL_MAX_COLUMNS``) happen while reading, before step 1, so they leave no backup and
no history. ``iter_pending`` ingests everything complete in ``incoming/`` one file at a
time and yields each result as soon as it is known; a file that vanishes (another process
took it), is still open for writing, or fails, is reported and the others go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from retail_pipeline.contract import Problem, RuleCount, by_rule_lines, quality
from retail_pipeline.contract.validation import count_by_rule
from retail_pipeline.ingest import backups, cleanup, incoming
from retail_pipeline.ingest import store as stores
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
PARTIAL = "partial"  # accepted without its few bad rows (they are in quarantine/<file>.rejected.csv)
REPLACED_MOST = 0.5  # an upload that replaces more than this share of an earlier one is flagged
SKIPPED, FAILED = "skipped", "failed"  # not taken now (left in place), or an unexpected error


@dataclass(frozen=True)
class Limits:
    """Bounds on what one upload may hold (see ``platform.settings``)."""

    max_bytes: int
    max_columns: int
    max_bad_share: float = field(default_factory=settings.max_bad_row_share)
    """Share of rows that may break the contract and be left out (0: all or nothing)."""

    @classmethod
    def from_settings(cls, strict: bool = False) -> Limits:
        share = 0.0 if strict else settings.max_bad_row_share()
        return cls(settings.max_upload_bytes(), settings.max_columns(), share)


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
    quarantined_rows: int = 0  # rows left out of an accepted file (partial acceptance)
    source_rows: int = 0  # data rows of the file that became contract rows
    rejected_rows: pd.DataFrame | None = None  # row, entity, column, value, rule of every row problem
    reason: str = ""  # why a file with row problems was rejected whole (the share of bad rows)
    dropped: dict[str, int] = field(default_factory=dict)  # mapping drop_rows condition -> rows left out

    def __post_init__(self):
        if self.problems and not self.by_rule:
            self.by_rule = count_by_rule(self.problems)

    @property
    def accepted(self) -> bool:
        return self.total_problems == 0 or self.quarantined_rows > 0

    @property
    def partial(self) -> bool:
        return self.quarantined_rows > 0

    @property
    def upload_id(self) -> str:
        return upload_id(self.sha256)

    def summary(self) -> str:
        tables = ", ".join(f"{n:,} {e} rows" for e, n in self.rows.items())
        if self.partial:
            return (f"{self.file}: PARTIAL, {self.format}: {tables} would be accepted; "
                    f"{self.quarantined_rows:,} of {self.source_rows:,} rows would be quarantined "
                    f"({self.total_problems} problem(s): {_per_rule(self.by_rule)})")
        if self.accepted:
            return f"{self.file}: OK, {self.format}: {tables}{dropped_text(self.dropped, '; ')}"
        first = "; ".join(str(p) for p in self.problems[:3])
        return (f"{self.file} would be rejected ({self.format or 'format not recognised'}): "
                f"{self.total_problems} problem(s){': ' + self.reason if self.reason else ''}. First: {first}")


def dropped_text(dropped: dict[str, int], lead: str = "") -> str:
    """``6,137 rows dropped by the mapping (Price matches '0': 3,687; ...)``, or "" for none."""
    if not dropped or not sum(dropped.values()):
        return ""
    parts = "; ".join(f"{condition}: {count:,}" for condition, count in dropped.items() if count)
    return f"{lead}{sum(dropped.values()):,} rows dropped by the mapping ({parts})"


def _per_rule(by_rule: dict[str, RuleCount]) -> str:
    return " ".join(f"{line}." for line in by_rule_lines(by_rule))


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
    quarantined_rows: int = 0  # rows of an accepted file left out (status partial)
    rejected_rows_path: Path | None = None  # quarantine/<file>.rejected.csv: each problem of those rows
    replaced: dict[str, dict] = field(default_factory=dict)
    """entity -> {"rows": stored rows replaced, "by_upload": {upload_id: {"rows", "of", "file"}}}"""

    def __post_init__(self):
        if self.problems and not self.by_rule:
            self.by_rule = count_by_rule(self.problems)

    @property
    def upload_id(self) -> str:
        return upload_id(self.sha256)

    @property
    def accepted(self) -> bool:
        return self.status in (ACCEPTED, PARTIAL, DUPLICATE)

    @property
    def changed_tables(self) -> bool:
        return self.status in (ACCEPTED, PARTIAL)

    @property
    def accepted_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def replaced_rows(self) -> int:
        return sum(r["rows"] for r in self.replaced.values())

    @property
    def replaced_most(self) -> list[dict]:
        """Earlier uploads of which this one replaced more than half the rows."""
        return replaced_most(self.replaced)


def replaced_most(replaced: dict[str, dict]) -> list[dict]:
    """Earlier uploads (entity, upload_id, file, rows, of) more than ``REPLACED_MOST`` replaced."""
    return [{"entity": entity, "upload_id": uid, **hit}
            for entity, report in replaced.items() for uid, hit in report.get("by_upload", {}).items()
            if hit["of"] and hit["rows"] > REPLACED_MOST * hit["of"]]


def replaced_text(replaced: dict[str, dict]) -> str:
    """"replaced 16,979 stored rows (transactions: 16,979, of upload ... 'a.csv': 16,979 of 17,000)"."""
    total = sum(r["rows"] for r in replaced.values())
    if not total:
        return ""
    parts = []
    for entity, report in replaced.items():
        if not report["rows"]:
            continue
        uploads = ", ".join(f"{hit['rows']:,} of the {hit['of']:,} rows of upload {uid} ({hit.get('file') or '?'})"
                            for uid, hit in report.get("by_upload", {}).items())
        parts.append(f"{entity}: {report['rows']:,}" + (f", {uploads}" if uploads else ""))
    return f"replaced {total:,} stored rows ({'; '.join(parts)})"


def _check_bytes(raw: bytes, name: str, mapping: Mapping | None, sha: str | None = None,
                 limits: Limits | None = None) -> tuple[CheckResult, Parsed | None]:
    sha = sha or sha256_of(raw)
    limits = limits or Limits.from_settings()
    try:
        parsed = read_upload(raw, name, mapping, limits.max_bytes, limits.max_columns, limits.max_bad_share)
    except UploadRejected as exc:
        return (CheckResult(name, sha, exc.format, exc.entity, {}, exc.problems, exc.total, exc.by_rule,
                            source_rows=exc.rows, rejected_rows=exc.rejected, reason=exc.share_text),
                None)
    entity = next(iter(parsed.tables))
    rows = {e: len(f) for e, f in parsed.tables.items()}
    return CheckResult(name, sha, parsed.format, entity, rows, parsed.problems, parsed.total_problems,
                       parsed.by_rule, parsed.bad_rows, parsed.rows, parsed.rejected,
                       dropped=parsed.dropped), parsed


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
               limits: Limits | None = None, strict: bool = False) -> CheckResult:
    """Read and validate ``path`` exactly as ingestion would; writes nothing."""
    mapping = resolve_mapping(mapping)  # a broken mapping is reported before the file is read
    limits = limits or Limits.from_settings(strict)
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


def _rejected_csv(rejected: pd.DataFrame) -> bytes:
    """Each problem of the rows left out: row, entity, column, value, rule (file order)."""
    buffer = io.StringIO()
    rejected.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def _write_rejected(folder: Path, name: str, uid: str, rejected: pd.DataFrame) -> Path:
    """``quarantine/<name>.rejected.csv`` (``<name>.<upload id>.rejected.csv`` when another
    upload's list holds that name); rewriting the same list is a no-op, so a re-run is safe."""
    data = _rejected_csv(rejected)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.rejected.csv"
    if target.exists() and target.read_bytes() != data:
        target = folder / f"{name}.{uid}.rejected.csv"
    if not target.exists() or target.read_bytes() != data:
        atomic.write_bytes(target, data)
    return target


def _reject(snapshot: Snapshot, layout: DataLayout, check: CheckResult, from_incoming: bool) -> IngestResult:
    target, _ = _free_name(layout.quarantine, snapshot.name, check.sha256, snapshot.size)
    error_path = target.with_name(target.name + ".error.json")
    rejected_path = None
    if check.rejected_rows is not None and len(check.rejected_rows):
        rejected_path = target.with_name(target.name + ".rejected.csv")
        atomic.write_bytes(rejected_path, _rejected_csv(check.rejected_rows))
    summary = (f"{snapshot.name} was rejected and nothing was stored: {check.total_problems} problem(s) "
               f"({check.format or 'format not recognised'})"
               + (f"; {check.reason}" if check.reason else "") + ". "
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
        "rows": check.source_rows,
        "rejected_rows_csv": rejected_path.name if rejected_path else None,
        "summary": summary,
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
    })
    quarantined, note = _set_aside(snapshot, layout.quarantine, from_incoming)
    return IngestResult(snapshot.name, check.sha256, REJECTED, check.format, check.entity, {},
                        check.problems, check.total_problems, quarantine_path=quarantined,
                        error_path=error_path, summary=_with_note(summary, note), note=note,
                        by_rule=check.by_rule, rejected_rows_path=rejected_path)


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
                        summary=_with_note(summary, note), note=note,
                        quarantined_rows=entry.get("quarantined_rows", 0))


def ingest_file(
    path: Path | str,
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    on_step: Callable[[str], None] | None = None,
    limits: Limits | None = None,
    strict: bool = False,
) -> IngestResult:
    """Validate ``path`` and apply it to the consolidated tables exactly once.

    Files inside ``layout.incoming`` are copied to archive/ or quarantine/ and then removed;
    files elsewhere are copied there and left in place. A file that vanished before it
    was read is ``skipped``. ``strict``: any bad row rejects the whole file (else up to
    ``RETAIL_MAX_BAD_ROW_SHARE`` of the rows are left out; see the module docstring).
    Raises ContractError only for a broken mapping.
    """
    path = Path(path)
    layout.ensure()
    mapping = resolve_mapping(mapping)
    limits = limits or Limits.from_settings(strict)
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
        rejected_path = None
        if parsed.partial:  # the rows left out, listed before anything is stored
            rejected_path = _write_rejected(layout.quarantine, snapshot.name, uid, parsed.rejected)
        backup = backups.find_backup(layout, uid)
        rerun = backup is not None  # an interrupted run of this upload took it (and may have consolidated)
        if backup is None:
            backup = backups.create_backup(layout, uid, f"before ingesting {snapshot.name}", keep=keep_backups)
        step("backup")
        history = {entity: layout.history / entity / f"{uid}.parquet" for entity in parsed.tables}
        for entity, frame in parsed.tables.items():
            atomic.write_parquet(history[entity], frame)
        step("history")
        replaced_now = store.upsert_many(parsed.tables, written=history)
        step("consolidate")
        replaced = _replacements(layout, backup, parsed.tables, uid, ledger, None if rerun else replaced_now)
        status = PARTIAL if parsed.partial else ACCEPTED
        ledger.record(sha, {
            "upload_id": uid, "file": snapshot.name, "format": check.format, "entity": check.entity,
            "rows": check.rows, "backup": backup.id, "status": status,
            "accepted_rows": sum(check.rows.values()), "quarantined_rows": check.quarantined_rows,
            "problems_by_rule": {kind: rc.as_dict() for kind, rc in check.by_rule.items()},
            "rejected_rows_csv": rejected_path.name if rejected_path else None,
            "replaced": replaced, "dropped_by_mapping": parsed.dropped,
            "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
        })
        step("ledger")
        archived, note = _set_aside(snapshot, layout.archive, from_incoming)
        step("archive")
    tables = ", ".join(f"{n:,} {e} rows" for e, n in check.rows.items())
    summary = f"{snapshot.name}: accepted {tables} ({check.format}){dropped_text(parsed.dropped, '; ')}"
    if parsed.partial:
        summary += (f"; {check.quarantined_rows:,} of {check.source_rows:,} rows quarantined in "
                    f"{rejected_path.name} ({check.total_problems} problem(s). Per rule: "
                    f"{_per_rule(check.by_rule)})")
    if replaced_text(replaced):
        summary += f"; {replaced_text(replaced)}"
    most = replaced_most(replaced)
    if most:
        summary += "; WARNING: " + "; ".join(
            f"it replaced {m['rows']:,} of the {m['of']:,} {m['entity']} rows of earlier upload "
            f"{m['upload_id']} ({m.get('file') or '?'})" for m in most)
    summary += f"; archived as {archived.name}; backup {backup.id}"
    return IngestResult(snapshot.name, sha, status, check.format, check.entity, check.rows,
                        check.problems, check.total_problems, archive_path=archived, backup_id=backup.id,
                        summary=_with_note(summary, note), by_rule=check.by_rule, note=note,
                        quarantined_rows=check.quarantined_rows, rejected_rows_path=rejected_path,
                        replaced=replaced)


def _replacements(layout: DataLayout, backup: backups.Backup, tables: dict[str, pd.DataFrame], uid: str,
                  ledger: Ledger, counted: dict[str, int] | None = None) -> dict[str, dict]:
    """Per entity: stored rows this upload replaced (against the table as it was before the
    upload) and, when any, which earlier uploads they came from.

    ``counted``: the counts the consolidation found, valid when it ran on the tables of the
    backup (the backup was taken by this run); a re-run of an interrupted upload passes
    ``None`` and counts against its backup instead, since the tables may already hold it.
    """
    report: dict[str, dict] = {}
    files = None
    for entity, frame in tables.items():
        rows = (counted[entity] if counted is not None
                else stores.replaced_rows(backup.path / f"{entity}.parquet", frame, entity))
        by_upload = stores.replaced_by_upload(layout.history / entity, frame, entity, uid) if rows else {}
        if by_upload:
            if files is None:
                files = {e.get("upload_id") or upload_id(sha): e.get("file") for sha, e in ledger.entries().items()}
            for hit_uid, hit in by_upload.items():
                hit["file"] = files.get(hit_uid)
        report[entity] = {"rows": rows, "by_upload": by_upload}
    return report


def iter_pending(
    layout: DataLayout,
    mapping: Mapping | Path | str | None = None,
    keep_backups: int = backups.DEFAULT_KEEP,
    settle_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    writers: Callable[[list[Path]], dict[Path, list[int]] | None] = incoming.open_writers,
    log: Callable[[str], None] | None = None,
    limits: Limits | None = None,
    strict: bool = False,
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
            result = ingest_file(entry.path, layout, mapping, keep_backups, limits=limits, strict=strict)
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


REFERENCES = {"shop_id": "shops", "product_id": "products"}
FACTS = ("transactions", "daily_totals", "stock_levels")


def _column(path: Path, column: str) -> pd.Series | None:
    """``column`` of the table at ``path`` (a file or a folder of parts), if it has one."""
    files = stores.table_files(path)
    if not files or column not in pq.read_schema(files[0]).names:
        return None
    return pd.read_parquet(path, columns=[column])[column]


def reference_report(layout: DataLayout, result: IngestResult) -> dict[str, dict]:
    """For an applied upload: per column (``shop_id``, ``product_id``) how many of its distinct
    ids match no shop or product known before it (the dimension tables and the earlier sales,
    daily totals and stock levels, read from the upload's backup), with the first examples.

    Dimension uploads (shops, products) are not checked: new ids are what they bring.
    Empty when the upload holds no such column, or nothing was known before it (a first upload
    cannot match anything).
    """
    if not result.changed_tables or not result.backup_id:
        return {}
    before = layout.backups / result.backup_id
    report = {}
    for column, dimension in REFERENCES.items():
        frames = [f for e in result.rows if e in FACTS
                  if (f := _column(layout.history / e / f"{result.upload_id}.parquet", column)) is not None]
        if not frames:
            continue
        known: set = set()
        for entity in (dimension, *FACTS):
            stored = _column(before / f"{entity}.parquet", column)
            if stored is not None:
                known.update(stored.dropna().unique())
        if not known:
            continue
        found = quality.unknown_ids(pd.DataFrame({column: pd.concat(frames, ignore_index=True)}), column, known)
        report[column] = {**found, "known": len(known)}
    return report
