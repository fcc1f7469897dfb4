"""The consolidated tables: the current version of every entity, at ``store/<entity>.parquet``.

``upsert`` merges an accepted upload by the entity's key: a record that comes again
replaces its older version (the older one stays in the per-upload history files).

A table is stored in one of two shapes, both read by ``pd.read_parquet(path)``:

* one Parquet file (every small table, and any table built by one upload);
* a folder of Parquet *parts* of one schema (``part-000001.parquet``, ...; rows in part
  order), once the table holds ``PARTS_FROM_ROWS`` rows. ``store/<entity>.parquet`` is then
  a symbolic link to a version folder ``store/parts/<entity>/v<N>/``. An upload whose keys
  are all new becomes one more part (only the key columns of the existing parts are read,
  to check that); an upload that gives existing keys again rewrites only the parts holding
  them (without those rows) and adds its rows as a new part. The parts that do not change
  are hard links to the previous version's files, so a new version costs the size of the
  upload, not of the table: ingesting a large upload in chunk files grows linearly instead
  of rewriting the growing table once per file. A part file is written once and never
  changed in place (a changed part is a new file in a new version folder), which is what
  makes sharing it by hard links (here and in backups) safe. When a table has more than
  ``MAX_PARTS`` parts, adjacent runs of small parts are compacted into one.

The rows, their order and the dtypes read back are those of the one-file merge
(``upsert_frames``): kept rows in their order, then the upload's rows. An upload whose
schema differs from the table's (a new extra column, another type) is merged the
one-file way, so the parts of a folder always share one schema.

Writes go to a temporary name in the same folder and are moved into place with
``os.replace``, which is atomic on POSIX: a reader (or a run killed half-way) sees either
the old table or the new one, never a mix. A new version folder is complete before the
link to it replaces the table; the previous version folder is kept (a reader may still be
listing it) and older ones are removed after each commit.

An upload that changes several tables at once (a WooCommerce export gives transactions
and customers) is committed through a small journal: every new version is written under a
hidden name first (``.<entity>.pending.parquet``: a file, or a link to a version folder),
then ``commit.json`` lists the renames (the commit point), then the renames run. A process
killed before the journal leaves every table as it was; one killed after it leaves a
journal that the next read or write of the store rolls forward, so nobody ever reads a
mix of old and new tables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_pipeline.contract import ENTITIES
from retail_pipeline.platform import atomic

JOURNAL = "commit.json"
PARTS = "parts"  # store/parts/<entity>/v<N>/part-<M>.parquet
PARTS_FROM_ROWS = 50_000
"""A table of at least this many rows takes new uploads as parts; a smaller one is rewritten
whole (cheap at that size, and it stays one file)."""
MAX_PARTS = 24  # above this many parts, adjacent small parts are compacted into one
SMALL_PART_ROWS = 250_000  # a part below this many rows is merged during a compaction
KEEP_PREVIOUS = 2  # version folders kept before the current one, for readers still listing them
VERSION = re.compile(r"^v(\d+)$")
PART = re.compile(r"^part-(\d+)\.parquet$")


class MissingTableError(FileNotFoundError):
    pass


def table_files(location: Path) -> list[Path]:
    """The Parquet files of a table stored at ``location`` (one file, or a folder of parts in
    row order); empty when there is none."""
    location = Path(location)
    if location.is_dir():
        return sorted(p for p in location.iterdir() if PART.match(p.name))
    return [location] if location.is_file() else []


def table_rows(location: Path) -> int:
    return sum(pq.read_metadata(f).num_rows for f in table_files(location))


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a part file is never changed in place), or a
    copy where links are not possible (another file system)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def copy_table(source: Path, target: Path) -> None:
    """The table at ``source`` to ``target``: a file is copied (it may be the store's own,
    replaced in place by hand); a folder of parts becomes a folder of links to its parts."""
    if source.is_dir():
        target.mkdir()
        for part in table_files(source):
            link_or_copy(part, target / part.name)
    else:
        shutil.copyfile(source, target)


@dataclass
class _Part:
    """One part of the next version: an existing file to link, or a table to write."""

    name: str
    source: Path | None = None
    table: pa.Table | None = None

    @property
    def rows(self) -> int:
        return self.table.num_rows if self.table is not None else pq.read_metadata(self.source).num_rows


class TableStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, entity: str) -> Path:
        if entity not in ENTITIES:
            raise KeyError(f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}")
        return self.root / f"{entity}.parquet"

    def exists(self, entity: str) -> bool:
        return self.path(entity).exists()

    def read(self, entity: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The table (``columns``: only those), datetimes at [ns] as the contract types them."""
        self.roll_forward()
        path = self.path(entity)
        if not path.exists():
            raise MissingTableError(
                f"no consolidated '{entity}' table at {path}: drop a {entity} file into the "
                f"incoming/ folder or run `retail-pipeline sample`"
            )
        for attempt in range(3):  # commits during a long read may remove the version being read
            try:
                frame = pd.read_parquet(path, columns=columns)
                break
            except OSError:
                if attempt == 2:
                    raise
        for column in frame.columns:  # Parquet round-trips datetimes as [us] under pandas 3
            if frame[column].dtype.kind == "M":
                frame[column] = frame[column].astype("datetime64[ns]")
        return frame

    def write(self, entity: str, frame: pd.DataFrame) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return atomic.write_parquet(self.path(entity), frame)

    def upsert(self, entity: str, new: pd.DataFrame, written: Path | None = None) -> int:
        """Merge ``new`` into the consolidated table by the entity's key; atomic write.

        ``written`` is a Parquet file already holding exactly ``new`` (the upload's history
        file): it becomes the table, or its new part, without encoding ``new`` again.
        Returns how many stored rows ``new`` replaced.
        """
        return self.upsert_many({entity: new}, {entity: written} if written else None)[entity]

    def upsert_many(self, tables: dict[str, pd.DataFrame], written: dict[str, Path] | None = None,
                    after_rename: Callable[[str], None] | None = None) -> dict[str, int]:
        """Merge several entities' uploads as one commit: all new tables or all old ones.

        Returns, per entity, how many stored rows the upload replaced. ``after_rename(entity)``
        runs after each table is renamed into place (tests use it to kill the commit half-way).
        """
        written = written or {}
        self.roll_forward()
        self.root.mkdir(parents=True, exist_ok=True)
        renames, replaced = [], {}
        for entity, frame in tables.items():
            pending = self.root / f".{entity}.pending.parquet"
            replaced[entity] = self._write_next(entity, frame, written.get(entity), pending)
            renames.append([pending.name, self.path(entity).name])
        if len(renames) == 1:
            os.replace(self.root / renames[0][0], self.root / renames[0][1])
            if after_rename:
                after_rename(next(iter(tables)))
        else:
            atomic.write_json(self.root / JOURNAL, {"renames": renames})  # the commit point
            self.roll_forward(after_rename)
        for entity in tables:
            self._remove_old_versions(entity)
        return replaced

    def roll_forward(self, after_rename: Callable[[str], None] | None = None) -> None:
        """Finish a multi-table commit whose journal was written (a no-op without one)."""
        journal = self.root / JOURNAL
        if not journal.exists():
            return
        for pending, final in json.loads(journal.read_text(encoding="utf-8"))["renames"]:
            if os.path.lexists(self.root / pending):  # already renamed by an earlier roll-forward
                os.replace(self.root / pending, self.root / final)
            if after_rename:
                after_rename(final.removesuffix(".parquet"))
        journal.unlink(missing_ok=True)

    def restore(self, entity: str, source: Path) -> None:
        """Replace the table by the one stored at ``source`` (a backup's file or folder)."""
        path = self.path(entity)
        if source.is_dir():
            pending = self.root / f".{entity}.pending.parquet"
            self._new_version(entity, [_Part(p.name, source=p) for p in table_files(source)], pending)
            os.replace(pending, path)
            self._remove_old_versions(entity)
        else:
            atomic.copy(source, path)

    def remove(self, entity: str) -> None:
        """Drop the table (and its version folders)."""
        path = self.path(entity)
        if os.path.lexists(path):
            path.unlink()
        shutil.rmtree(self.root / PARTS / entity, ignore_errors=True)

    # -- writing a new version ----------------------------------------------------------

    def _write_next(self, entity: str, new: pd.DataFrame, written: Path | None, pending: Path) -> int:
        """Write the table as it is after ``new`` to ``pending``; the rows it replaced."""
        path = self.path(entity)
        if os.path.lexists(pending):
            pending.unlink()  # a version written by a run killed before its commit
        if not path.exists():
            if written is not None:
                atomic.copy(written, pending)
            else:
                atomic.write_parquet(pending, new)
            return 0
        incoming = pq.read_table(written) if written is not None else _arrow(new)
        parts, parted = table_files(path), path.is_dir()
        if (table_rows(path) < PARTS_FROM_ROWS
                or not pq.read_schema(parts[0]).equals(incoming.schema, check_metadata=True)):
            return self._write_merged(entity, new, pending)
        key = list(ENTITIES[entity].key)
        # the key columns of every part in one read (parts are read in parallel), looked up at once
        stored_keys = pq.read_table([str(p) for p in parts], columns=key)
        all_hits = _key_hits(stored_keys, key, _key_values(incoming.select(key), key))
        next_parts, replaced, start = [], 0, 0
        for part in parts:
            rows = pq.read_metadata(part).num_rows
            hits, start = all_hits.slice(start, rows), start + rows
            found = int(pc.sum(hits).as_py() or 0)
            replaced += found
            name = part.name if parted else _part_name(0)
            if not found:
                next_parts.append(_Part(name, source=part))
            elif found < rows:
                next_parts.append(_Part(name, table=pq.read_table(part).filter(pc.invert(hits))))
        number = _part_number(parts[-1].name) + 1 if parted else 1
        next_parts.append(_Part(_part_name(number), source=written) if written is not None
                          else _Part(_part_name(number), table=incoming))
        self._new_version(entity, _compacted(next_parts), pending)
        return replaced

    def _write_merged(self, entity: str, new: pd.DataFrame, pending: Path) -> int:
        """The one-file merge: read the whole table, merge, write it as one file."""
        key = list(ENTITIES[entity].key)
        current = self.read(entity)
        replaced = int(_keys(current, key).isin(_keys(new, key)).sum()) if not new.empty else 0
        atomic.write_parquet(pending, upsert_frames(current, new, key))
        return replaced

    def _versions(self, entity: str) -> dict[int, Path]:
        folder = self.root / PARTS / entity
        if not folder.is_dir():
            return {}
        return {int(m[1]): p for p in folder.iterdir() if (m := VERSION.match(p.name))}

    def _new_version(self, entity: str, parts: list[_Part], pending: Path) -> None:
        """A complete version folder holding ``parts``, and ``pending`` linking to it."""
        self._remove_old_versions(entity)  # and those a killed run wrote but never committed
        number = max(self._versions(entity), default=0) + 1
        folder = self.root / PARTS / entity / f"v{number:06d}"
        staging = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for part in parts:
            if part.table is not None:
                atomic.parquet_table(part.table, staging / part.name)
            else:
                link_or_copy(part.source, staging / part.name)
        os.replace(staging, folder)
        os.symlink(os.path.relpath(folder, self.root), pending)

    def _remove_old_versions(self, entity: str) -> None:
        """Version folders older than the ``KEEP_PREVIOUS`` before the current one (those are
        kept for readers still listing them) and newer than the current one (left by a killed
        run) are removed."""
        path = self.path(entity)
        target = Path(os.path.realpath(path)) if path.is_symlink() else None
        versions = self._versions(entity)
        current = next((n for n, p in versions.items() if target is not None and p.resolve() == target), None)
        earlier = sorted(n for n in versions if current is None or n < current)[-KEEP_PREVIOUS:]
        for number, folder in versions.items():
            if number != current and number not in earlier:
                shutil.rmtree(folder, ignore_errors=True)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _part_name(number: int) -> str:
    return f"part-{number:06d}.parquet"


def _part_number(name: str) -> int:
    return int(PART.match(name)[1])


def _compacted(parts: list[_Part]) -> list[_Part]:
    """``parts`` without empty ones; above ``MAX_PARTS``, each run of adjacent small parts
    becomes one part (adjacent only, so the row order stays)."""
    parts = [p for p in parts if p.rows]
    if len(parts) <= MAX_PARTS:
        return parts
    result, run = [], []
    for part in [*parts, None]:
        if part is not None and part.rows < SMALL_PART_ROWS:
            run.append(part)
            continue
        if len(run) > 1:
            tables = [p.table if p.table is not None else pq.read_table(p.source) for p in run]
            result.append(_Part(run[0].name, table=pa.concat_tables(tables)))
        else:
            result.extend(run)
        run = []
        if part is not None:
            result.append(part)
    return result


def _key_values(keys: pa.Table, key: list[str]) -> pa.Array | pd.Index:
    """The upload's keys in the form ``_key_hits`` looks them up in."""
    if len(key) == 1:
        return keys.column(0).combine_chunks()
    return _keys(keys.to_pandas(), key)


def _key_hits(keys: pa.Table, key: list[str], new_keys: pa.Array | pd.Index) -> pa.Array:
    """Per stored row (``keys``: its key columns), whether its key is among ``new_keys``."""
    if len(key) == 1:
        return pc.fill_null(pc.is_in(keys.column(0), value_set=new_keys, skip_nulls=False),
                            False).combine_chunks()
    return pa.array(_keys(keys.to_pandas(), key).isin(new_keys))


def upsert_frames(current: pd.DataFrame | None, new: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """``current`` without the rows whose key comes again in ``new``, then all of ``new``.

    A record that comes again replaces its older version; applying the same ``new`` twice
    gives the same table as applying it once (which makes re-running an interrupted
    ingestion safe). Columns only one side has are kept (empty on the other side).
    """
    if current is None or current.empty:
        return new.reset_index(drop=True)
    if len(key) == 1:
        replaced = current[key[0]].isin(new[key[0]]).to_numpy()
    else:
        replaced = pd.MultiIndex.from_frame(current[key]).isin(pd.MultiIndex.from_frame(new[key]))
    kept = current.loc[~replaced]
    if kept.empty:
        return new.reset_index(drop=True)
    merged = pd.concat([kept, new], ignore_index=True)
    for column in merged.columns:  # text columns that one side lacked come back as object
        if merged[column].dtype == object and (column in new.columns and new[column].dtype == "str"):
            merged[column] = merged[column].astype("str")
    return merged


def _keys(frame: pd.DataFrame, key: list[str]) -> pd.Index:
    """The key of every row as an index (dates at one resolution, so stored and new compare)."""
    cols = [frame[k].astype("datetime64[ns]") if frame[k].dtype.kind == "M" else frame[k] for k in key]
    if len(key) == 1:
        return pd.Index(cols[0])
    return pd.MultiIndex.from_arrays(cols, names=key)


def _read_keys(location: Path, key: list[str]) -> pd.DataFrame:
    """The key columns of the table at ``location`` (a file or a folder of parts)."""
    return pd.read_parquet(location, columns=key)


def replaced_rows(before: Path | None, new: pd.DataFrame, entity: str) -> int:
    """How many rows of the table ``before`` (the consolidated table as it was before the
    upload, e.g. in its backup: a file or a folder of parts) have a key that comes again in
    ``new``."""
    if before is None or not Path(before).exists() or new.empty:
        return 0
    key = list(ENTITIES[entity].key)
    stored = _keys(_read_keys(before, key), key)
    return int(stored.isin(_keys(new, key)).sum())


def replaced_by_upload(history: Path, new: pd.DataFrame, entity: str, own: str) -> dict[str, dict]:
    """For every earlier upload of ``entity`` (its history file ``history/<upload_id>.parquet``)
    whose rows ``new`` gives again: ``{upload_id: {"rows": how many, "of": its row count}}``.

    ``own`` (this upload's id) is left out, so the answer is the same when an interrupted
    ingestion runs again.
    """
    folder = Path(history)
    if new.empty or not folder.is_dir():
        return {}
    key = list(ENTITIES[entity].key)
    incoming = _keys(new, key)
    found = {}
    for path in sorted(folder.glob("*.parquet")):
        if path.stem == own or path.name.startswith("."):
            continue
        earlier = _keys(_read_keys(path, key), key)
        hits = int(earlier.isin(incoming).sum())
        if hits:
            found[path.stem] = {"rows": hits, "of": len(earlier)}
    return found
