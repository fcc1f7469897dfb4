"""Which files in ``incoming/`` are ready: complete uploads, not files still being copied.

A file counts as stable when its size and modification time did not change between two
looks. The sensor looks once per tick (its cursor remembers the previous look); the CLI
looks twice, a moment apart. Hidden files and the usual partial-download names are
never picked up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")
SIDE_FILES = (".error.json",)


def candidate_files(folder: Path) -> list[Path]:
    """Regular files that look like uploads, oldest first."""
    if not folder.exists():
        return []
    found = []
    for path in folder.iterdir():
        name = path.name
        if name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES + SIDE_FILES):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def file_state(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def stable_files(folder: Path, settle_seconds: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> list[Path]:
    """Files whose size and mtime stay the same over ``settle_seconds``."""
    before = {p: file_state(p) for p in candidate_files(folder)}
    if not before:
        return []
    if settle_seconds > 0:
        sleep(settle_seconds)
    stable = []
    for path, state in before.items():
        try:
            if file_state(path) == state:
                stable.append(path)
        except FileNotFoundError:
            continue
    return stable
