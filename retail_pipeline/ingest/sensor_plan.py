"""What the file-arrival sensor should request on one tick (pure, testable without Dagster).

The sensor's cursor is ``{name: [size, mtime_ns, upload_id]}`` for the files it saw last
tick (``upload_id`` once hashed). A file is ready when its size and mtime equal last
tick's (two ticks, 30 s apart, without a change), or when the uploader dropped a
``<name>.done`` marker beside it; in both cases only if no process holds it open for
writing (``incoming.open_writers``, where the platform allows). A file is never taken
at first sight because it has not been written to for a while: a slow copy that pauses
is not finished. Entries that are not regular files are returned in ``refused`` (the
sensor moves them aside without opening them). Ready files whose content is already in
the ledger, or already requested, are skipped; at most ``cap`` uploads are requested per
tick and the rest wait for the next tick, so a folder of many files never starts a storm
of runs. At most ``max_tracked`` files are remembered, which keeps the cursor small.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retail_pipeline.ingest import incoming
from retail_pipeline.ingest.incoming import Refused
from retail_pipeline.ingest.ledger import upload_id

DEFAULT_CAP = 10
MAX_TRACKED = 200
MAX_UPLOAD_PARTITIONS = 5_000

Writers = Callable[[list[Path]], "dict[Path, list[int]] | None"]


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
    busy: dict[str, list[int]] = field(default_factory=dict)  # file name -> writing processes
    refused: list[Refused] = field(default_factory=list)  # not regular files
    cursor: dict[str, list] = field(default_factory=dict)

    def cursor_json(self) -> str:
        return json.dumps(self.cursor, separators=(",", ":"), sort_keys=True)


def hash_file(path: Path) -> str:
    """sha256 of a regular file (a link is not followed)."""
    return incoming.hash_path(path)[1]


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
    writers: Writers = incoming.open_writers,
) -> TickPlan:
    """Decide this tick's requests; ``skip_reason(upload_id)`` says why not to request one."""
    previous = parse_cursor(cursor)
    plan = TickPlan()
    found = incoming.scan(folder)
    plan.refused = found.refused
    complete = []
    for entry in found.files[:max_tracked]:
        seen = previous.get(entry.path.name)
        if not entry.done and (not seen or seen[:2] != entry.state):
            plan.waiting.append(entry.path.name)
            plan.cursor[entry.path.name] = entry.state
            continue
        complete.append((entry, seen))
    busy = writers([entry.path for entry, _ in complete]) or {}
    chosen: set[str] = set()
    for entry, seen in complete:
        name = entry.path.name
        if busy.get(entry.path):
            plan.busy[name] = busy[entry.path]
            plan.waiting.append(name)
            plan.cursor[name] = entry.state
            continue
        try:
            uid = seen[2] if seen and len(seen) > 2 else upload_id(hash_file(entry.path))
        except FileNotFoundError:
            continue  # taken by another process since the look
        except OSError:  # swapped for a link since the look: refused at the next tick
            plan.waiting.append(name)
            continue
        plan.cursor[name] = [*entry.state, uid]
        reason = "same content requested in this tick" if uid in chosen else skip_reason(uid)
        if reason:
            plan.skipped[name] = reason
            continue
        if len(plan.requests) >= cap:
            plan.waiting.append(name)
            continue
        chosen.add(uid)
        plan.requests.append(Ready(entry.path, uid, entry.mtime_ns))
        del plan.cursor[name]  # requested: its run moves it out of incoming/
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
