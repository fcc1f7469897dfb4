"""What the file-arrival sensor should request on one tick (pure, testable without Dagster).

The sensor's cursor is ``{name: [size, mtime_ns, upload_id]}`` for the files it saw last
tick (``upload_id`` once hashed). A file is ready when its size and mtime equal last
tick's, so a file still being copied waits; a file that nobody has written to for
``quiet_seconds`` is ready the first time it is seen, which saves a whole tick (30 s) for
the common case of a file that lands in one move or a copy that finished a while ago. Ready files whose content is already in the
ledger, or already requested, are skipped; at most ``cap`` uploads are requested per
tick and the rest wait for the next tick, so a folder of many files never starts a
storm of runs. At most ``max_tracked`` files are remembered, which keeps the cursor small.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retail_pipeline.ingest.incoming import candidate_files, file_state
from retail_pipeline.ingest.ledger import upload_id

DEFAULT_CAP = 10
MAX_TRACKED = 200
QUIET_SECONDS = 10.0
MAX_UPLOAD_PARTITIONS = 5_000


@dataclass
class Ready:
    path: Path
    upload_id: str
    mtime_ns: int


@dataclass
class TickPlan:
    requests: list[Ready] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why
    waiting: list[str] = field(default_factory=list)
    cursor: dict[str, list] = field(default_factory=dict)

    def cursor_json(self) -> str:
        return json.dumps(self.cursor, separators=(",", ":"), sort_keys=True)


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_cursor(cursor: str | None) -> dict[str, list]:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def plan_tick(
    folder: Path,
    cursor: str | None,
    skip_reason: Callable[[str], str | None],
    cap: int = DEFAULT_CAP,
    max_tracked: int = MAX_TRACKED,
    quiet_seconds: float = QUIET_SECONDS,
    now_ns: int | None = None,
) -> TickPlan:
    """Decide this tick's requests; ``skip_reason(upload_id)`` says why not to request one."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    previous = parse_cursor(cursor)
    plan = TickPlan()
    chosen: set[str] = set()
    for path in candidate_files(folder)[:max_tracked]:
        try:
            size, mtime_ns = file_state(path)
        except FileNotFoundError:
            continue
        seen = previous.get(path.name)
        quiet = now_ns - mtime_ns >= quiet_seconds * 1e9
        if (not seen and not quiet) or (seen and seen[:2] != [size, mtime_ns]):
            plan.waiting.append(path.name)
            plan.cursor[path.name] = [size, mtime_ns]
            continue
        uid = seen[2] if seen and len(seen) > 2 else upload_id(hash_file(path))
        plan.cursor[path.name] = [size, mtime_ns, uid]
        reason = "same content requested in this tick" if uid in chosen else skip_reason(uid)
        if reason:
            plan.skipped[path.name] = reason
            continue
        if len(plan.requests) >= cap:
            plan.waiting.append(path.name)
            continue
        chosen.add(uid)
        plan.requests.append(Ready(path, uid, mtime_ns))
        del plan.cursor[path.name]  # requested: its run moves it out of incoming/
    return plan


def partitions_to_retire(partitions: list[str], ingested: set[str],
                         keep: int = MAX_UPLOAD_PARTITIONS) -> list[str]:
    """The oldest upload partitions beyond ``keep`` whose content is in the ledger.

    Dagster recommends staying far below 100,000 partitions, and one partition per upload
    grows without end (a few shops uploading daily pass 10,000 in a few years). An ingested
    upload lives on in the ledger, its archived file and its history Parquet, so its
    partition can go once it is old: the UI keeps the newest ``keep`` uploads.
    ``partitions`` is in the order they were added (oldest first), as Dagster returns them.
    """
    excess = len(partitions) - keep
    if excess <= 0:
        return []
    return [key for key in partitions if key in ingested][:excess]
