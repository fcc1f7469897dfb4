"""Which entries of ``incoming/`` are uploads, when one is complete, and how it is read safely.

Every entry is looked at with ``lstat``, never followed: a regular file is a candidate;
anything else (a symbolic link, a named pipe, a device, a socket, a folder) is refused and
moved aside into ``quarantine/`` by renaming the entry itself, so its target is never
opened, copied or echoed (``refuse_entry``). Hidden names (``.name``) are the uploader's
own temporary files and are never touched.

A candidate is complete when

* its size and modification time did not change between two looks (two sensor ticks, or
  the CLI's two looks ``settle_seconds`` apart), or a ``<name>.done`` marker sits beside
  it (the uploader says it is finished), and
* no process has it open for writing (Linux: ``/proc/<pid>/fd``; where that cannot be
  read the check is skipped and the two looks decide alone).

An uploader can also write to a hidden name (``.name.part``) and rename it when finished:
the file is then never seen half-written.

An upload is read through one descriptor opened with ``O_NOFOLLOW | O_NONBLOCK`` and
checked with ``fstat``, so a file swapped for a link between the look and the read is
refused too, and a named pipe never blocks the reader (``read_snapshot``).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from retail_pipeline.platform import atomic

PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")
SIDE_FILES = (".error.json",)
DONE_SUFFIX = ".done"
READ_BLOCK = 1 << 20


class NotRegularFileError(OSError):
    """The entry is not a regular file (``kind`` says what it is)."""

    def __init__(self, path: Path, kind: str):
        super().__init__(f"{path.name} is a {kind}, not a regular file")
        self.path, self.kind = path, kind


def describe(mode: int) -> str | None:
    """What a non-regular entry is (``None`` for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "named pipe (fifo)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


@dataclass(frozen=True)
class Entry:
    """A regular file in ``incoming/`` as one ``lstat`` saw it."""

    path: Path
    size: int
    mtime_ns: int
    done: bool = False  # a <name>.done marker sits beside it

    @property
    def state(self) -> list[int]:
        return [self.size, self.mtime_ns]


@dataclass(frozen=True)
class Refused:
    """An entry that is not a regular file: refused without being opened."""

    path: Path
    kind: str
    link_target: str | None = None  # a symbolic link's target path (never its content)


@dataclass
class Scan:
    files: list[Entry] = field(default_factory=list)  # oldest first
    refused: list[Refused] = field(default_factory=list)


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES + SIDE_FILES)


def scan(folder: Path) -> Scan:
    """The uploads in ``folder`` (by ``lstat``) and the entries that must be refused."""
    result = Scan()
    if not folder.is_dir():
        return result
    looked: list[tuple[str, os.stat_result]] = []
    with os.scandir(folder) as entries:
        for item in entries:
            if item.name.startswith("."):
                continue
            try:
                info = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone between the listing and the look
            looked.append((item.name, info))
    names = {name for name, info in looked if stat.S_ISREG(info.st_mode)}
    for name, info in looked:
        path = folder / name
        kind = describe(info.st_mode)
        if kind is not None:
            target = None
            if kind == "symbolic link":
                try:
                    target = os.readlink(path)
                except OSError:
                    target = None
            result.refused.append(Refused(path, kind, target))
            continue
        if _ignored(name) or name.endswith(DONE_SUFFIX):
            continue
        result.files.append(Entry(path, info.st_size, info.st_mtime_ns, name + DONE_SUFFIX in names))
    result.files.sort(key=lambda e: (e.mtime_ns, e.path.name))
    return result


def candidate_files(folder: Path) -> list[Path]:
    """Regular files that look like uploads, oldest first."""
    return [e.path for e in scan(folder).files]


def file_state(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_size, info.st_mtime_ns


def open_writers(paths: Iterable[Path]) -> dict[Path, list[int]] | None:
    """For each path, the processes that hold it open for writing (Linux ``/proc``).

    ``None`` when the platform does not allow the check (no ``/proc``). Processes of other
    users are invisible to an unprivileged reader; they are skipped.
    """
    wanted = {}
    for path in paths:
        try:
            wanted[os.path.realpath(path)] = Path(path)
        except OSError:
            continue
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/fd"):
        return None
    found: dict[Path, list[int]] = {}
    if not wanted:
        return found
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in wanted and _writable(pid, fd):
                found.setdefault(wanted[target], []).append(int(pid))
    return found


def _writable(pid: str, fd: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except (OSError, ValueError, IndexError):
        return False
    return False


def stable_files(folder: Path, settle_seconds: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> list[Path]:
    """Files whose size and mtime stay the same over ``settle_seconds`` (or have a marker)."""
    return [e.path for e in settle(folder, settle_seconds, sleep)[0]]


def settle(folder: Path, settle_seconds: float = 2.0,
           sleep: Callable[[float], None] = time.sleep) -> tuple[list[Entry], list[Entry], Scan]:
    """Look twice: (complete files, files that changed in between, the second look)."""
    before = {e.path: e.state for e in scan(folder).files}
    if before and settle_seconds > 0:
        sleep(settle_seconds)
    after = scan(folder)
    stable, changing = [], []
    for entry in after.files:
        if entry.done or before.get(entry.path) == entry.state:
            stable.append(entry)
        elif entry.path in before:
            changing.append(entry)
    return stable, changing, after


@dataclass
class Snapshot:
    """An upload's bytes as read through one descriptor, and what the file was then."""

    path: Path
    raw: bytes | None  # None: larger than the limit (then not read, and no sha256)
    sha256: str
    size: int
    mtime_ns: int
    inode: tuple[int, int]

    @property
    def name(self) -> str:
        return self.path.name


def read_snapshot(path: Path, max_bytes: int, follow: bool = False) -> Snapshot:
    """Read ``path`` once, hashing it; refuses anything but a regular file.

    ``follow=False`` (uploads in ``incoming/``): the entry is judged by ``lstat`` and opened
    with ``O_NOFOLLOW``, so a link is refused rather than followed. ``follow=True`` (a file
    named on the command line): links are followed, but the target must be a regular file.
    A file larger than ``max_bytes`` is not read (``raw`` None, ``sha256`` empty).
    """
    path = Path(path)
    info = os.stat(path) if follow else os.lstat(path)
    kind = describe(info.st_mode)
    if kind is not None:
        raise NotRegularFileError(path, kind)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFileError(path, "symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        kind = describe(info.st_mode)
        if kind is not None:  # swapped between the look and the open
            raise NotRegularFileError(path, kind)
        if info.st_size > max_bytes:  # refused for its size: not read at all
            return Snapshot(path, None, "", info.st_size, info.st_mtime_ns, (info.st_dev, info.st_ino))
        digest = hashlib.sha256()
        blocks, size = [], 0
        for block in iter(lambda: handle.read(READ_BLOCK), b""):
            digest.update(block)
            blocks.append(block)
            size += len(block)
            if size > max_bytes:  # grew while being read
                info = os.fstat(handle.fileno())
                return Snapshot(path, None, "", info.st_size, info.st_mtime_ns,
                                (info.st_dev, info.st_ino))
        raw = b"".join(blocks)
    return Snapshot(path, raw, digest.hexdigest(), size, info.st_mtime_ns, (info.st_dev, info.st_ino))


def hash_path(path: Path) -> tuple[int, str]:
    """(size, sha256) of a regular file, read without following a final link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        digest, size = hashlib.sha256(), 0
        for block in iter(lambda: handle.read(READ_BLOCK), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def release(snapshot: Snapshot) -> str | None:
    """Remove the original (and its ``.done`` marker) if it is still what was read.

    Returns a note when the file changed after it was read (then it is left in place and
    will be taken again, whole), ``None`` otherwise.
    """
    try:
        info = os.lstat(snapshot.path)
    except FileNotFoundError:
        return None  # another process took it already
    now = (info.st_size, info.st_mtime_ns, (info.st_dev, info.st_ino))
    if now != (snapshot.size, snapshot.mtime_ns, snapshot.inode):
        return (f"{snapshot.name} changed while it was being ingested; the version that was read "
                "is stored, the file was left in incoming/ to be taken again")
    os.unlink(snapshot.path)
    marker = snapshot.path.with_name(snapshot.name + DONE_SUFFIX)
    if os.path.lexists(marker) and stat.S_ISREG(os.lstat(marker).st_mode):
        marker.unlink(missing_ok=True)
    return None


def _free_target(folder: Path, name: str) -> Path:
    target = folder / name
    number = 1
    while os.path.lexists(target) or os.path.lexists(target.with_name(target.name + ".error.json")):
        number += 1
        target = folder / f"{name}.{number}"
    return target


def refuse_entry(refused: Refused, quarantine: Path) -> tuple[Path | None, Path, str]:
    """Move a non-regular entry aside by renaming it (never opening or following it).

    Writes ``<name>.error.json`` beside it, naming what the entry is and, for a link,
    where it points; nothing of any content. Returns (new place or ``None`` when it could
    not be moved, the error file, the rule).
    """
    quarantine.mkdir(parents=True, exist_ok=True)
    target = _free_target(quarantine, refused.path.name)
    rule = (f"'{refused.path.name}' is a {refused.kind}, not a regular file: only regular files "
            "are taken from incoming/; it was moved aside without being opened")
    moved: Path | None = target
    try:
        os.rename(refused.path, target)  # renames the entry itself, never its target
    except FileNotFoundError:
        moved = None
        rule += " (it disappeared before it could be moved)"
    except OSError as exc:
        moved = None
        rule = rule.replace("it was moved aside", f"it could not be moved aside ({exc.strerror})"
                                                  " and was left in place,")
    error_path = target.with_name(target.name + ".error.json")
    atomic.write_json(error_path, {
        "file": refused.path.name,
        "kind": refused.kind,
        "link_target": refused.link_target,
        "problems": [{"file": refused.path.name, "row": None, "column": None, "value": None,
                      "rule": rule}],
        "total": 1,
        "summary": f"{refused.path.name} was refused: {rule}.",
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
    })
    return moved, error_path, rule
