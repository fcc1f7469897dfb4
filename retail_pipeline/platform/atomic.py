"""Atomic file operations shared by every ingestion step.

Each step that writes anything writes to a temporary file in the destination folder and
moves it into place with ``os.replace`` (atomic on POSIX), so a run killed at any moment
leaves either the old file or the new one, never half a file. A process-wide file lock
serialises the read-modify-write of the consolidated tables between concurrent runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _temp_beside(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[str]:
    """A temporary name beside ``path``; on success it replaces ``path``, else it is removed.

    Readers see the old file or the new one, never a half-written one; a write killed
    half-way leaves a hidden ``.<name>.*.tmp`` that the clean-up removes later.
    """
    tmp = _temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: Path, data: bytes) -> Path:
    with replacing(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def write_json(path: Path, value) -> Path:
    return write_bytes(path, json.dumps(value, indent=2, default=str).encode("utf-8"))


def parquet(frame, target) -> None:
    """``frame.to_parquet(target, index=False)`` (same schema and pandas metadata, so it
    reads back with the same dtypes), without min/max statistics of text columns: those
    cost a third of the write of a large table and no reader here filters on them."""
    import pyarrow as pa

    parquet_table(pa.Table.from_pandas(frame, preserve_index=False), target)


def parquet_table(table, target) -> None:
    """An Arrow ``table`` written as ``parquet`` writes a frame (no text-column statistics)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stats = [f.name for f in table.schema
             if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    pq.write_table(table, target, write_statistics=stats)


def write_parquet(path: Path, frame) -> Path:
    with replacing(path) as tmp:
        parquet(frame, tmp)
    return path


def copy(source: Path, target: Path) -> Path:
    """Copy byte for byte; the target appears complete or not at all."""
    with replacing(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def move(source: Path, target: Path) -> Path:
    """Move ``source`` to ``target``: a rename on the same file system, else copy + unlink."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:
        copy(source, target)
        os.unlink(source)
    return target


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (blocks until other ingestions finish)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
