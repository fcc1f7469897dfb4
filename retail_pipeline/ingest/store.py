"""The consolidated tables: the current version of every entity, one Parquet file each.

``upsert`` merges an accepted upload by the entity's key: a record that comes again
replaces its older version (the older one stays in the per-upload history files).
Writes go to a temporary file in the same folder and are moved into place with
``os.replace``, which is atomic on POSIX: a reader (or a run killed half-way) sees either
the old table or the new one, never a mix.

An upload that changes several tables at once (a WooCommerce export gives transactions
and customers) is committed through a small journal: every new version is written under a
hidden name first, then ``commit.json`` lists the renames (the commit point), then the
renames run. A process killed before the journal leaves every table as it was; one killed
after it leaves a journal that the next read or write of the store rolls forward, so
nobody ever reads a mix of old and new tables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from retail_pipeline.contract import ENTITIES
from retail_pipeline.platform import atomic

JOURNAL = "commit.json"


class MissingTableError(FileNotFoundError):
    pass


class TableStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, entity: str) -> Path:
        if entity not in ENTITIES:
            raise KeyError(f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}")
        return self.root / f"{entity}.parquet"

    def exists(self, entity: str) -> bool:
        return self.path(entity).exists()

    def read(self, entity: str) -> pd.DataFrame:
        self.roll_forward()
        path = self.path(entity)
        if not path.exists():
            raise MissingTableError(
                f"no consolidated '{entity}' table at {path}: drop a {entity} file into the "
                f"incoming/ folder or run `retail-pipeline sample`"
            )
        frame = pd.read_parquet(path)
        for column in frame.columns:  # Parquet round-trips datetimes as [us] under pandas 3
            if frame[column].dtype.kind == "M":
                frame[column] = frame[column].astype("datetime64[ns]")
        return frame

    def write(self, entity: str, frame: pd.DataFrame) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return atomic.write_parquet(self.path(entity), frame)

    def upsert(self, entity: str, new: pd.DataFrame, written: Path | None = None) -> pd.DataFrame:
        """Merge ``new`` into the consolidated table by the entity's key; atomic write.

        ``written`` is a Parquet file already holding exactly ``new`` (the upload's history
        file): when there is no table yet it is copied instead of encoding ``new`` again.
        """
        self.roll_forward()
        if not self.exists(entity) and written is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic.copy(written, self.path(entity))
            return new
        merged = self._merged(entity, new)
        self.write(entity, merged)
        return merged

    def upsert_many(self, tables: dict[str, pd.DataFrame], written: dict[str, Path] | None = None,
                    after_rename: Callable[[str], None] | None = None) -> None:
        """Merge several entities' uploads as one commit: all new tables or all old ones.

        ``after_rename(entity)`` runs after each table is renamed into place (tests use it to
        kill the commit half-way).
        """
        written = written or {}
        if len(tables) == 1:
            [(entity, frame)] = tables.items()
            self.upsert(entity, frame, written.get(entity))
            return
        self.roll_forward()
        self.root.mkdir(parents=True, exist_ok=True)
        renames = []
        for entity, frame in tables.items():
            pending = self.root / f".{entity}.pending.parquet"
            if not self.exists(entity) and entity in written:
                atomic.copy(written[entity], pending)
            else:
                atomic.write_parquet(pending, self._merged(entity, frame))
            renames.append([pending.name, self.path(entity).name])
        atomic.write_json(self.root / JOURNAL, {"renames": renames})  # the commit point
        self.roll_forward(after_rename)

    def roll_forward(self, after_rename: Callable[[str], None] | None = None) -> None:
        """Finish a multi-table commit whose journal was written (a no-op without one)."""
        journal = self.root / JOURNAL
        if not journal.exists():
            return
        for pending, final in json.loads(journal.read_text(encoding="utf-8"))["renames"]:
            if (self.root / pending).exists():  # already renamed by an earlier roll-forward
                os.replace(self.root / pending, self.root / final)
            if after_rename:
                after_rename(final.removesuffix(".parquet"))
        journal.unlink(missing_ok=True)

    def _merged(self, entity: str, new: pd.DataFrame) -> pd.DataFrame:
        current = self.read(entity) if self.exists(entity) else None
        return upsert_frames(current, new, list(ENTITIES[entity].key))


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


def _read_keys(path: Path, key: list[str]) -> pd.DataFrame:
    return pd.read_parquet(path, columns=key)


def replaced_rows(before: Path | None, new: pd.DataFrame, entity: str) -> int:
    """How many rows of the table ``before`` (a Parquet file: the consolidated table as it was
    before the upload, e.g. in its backup) have a key that comes again in ``new``."""
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
