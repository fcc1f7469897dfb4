"""The consolidated tables: the current version of every entity, one Parquet file each.

``upsert`` merges an accepted upload by the entity's key: a record that comes again
replaces its older version (the older one stays in the per-upload history files).
Writes go to a temporary file in the same folder and are moved into place with
``os.replace``, which is atomic on POSIX: a reader (or a run killed half-way) sees either
the old table or the new one, never a mix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from retail_pipeline.domain.contract import ENTITIES
from retail_pipeline.ingestion import atomic


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
        path = self.path(entity)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{entity}.", suffix=".parquet.tmp", dir=path.parent)
        os.close(fd)
        try:
            atomic.parquet(frame, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def upsert(self, entity: str, new: pd.DataFrame, written: Path | None = None) -> pd.DataFrame:
        """Merge ``new`` into the consolidated table by the entity's key; atomic write.

        ``written`` is a Parquet file already holding exactly ``new`` (the upload's history
        file): when there is no table yet it is copied instead of encoding ``new`` again.
        """
        current = self.read(entity) if self.exists(entity) else None
        if current is None and written is not None:
            path = self.path(entity)
            fd, tmp = tempfile.mkstemp(prefix=f".{entity}.", suffix=".parquet.tmp", dir=path.parent)
            os.close(fd)
            try:
                shutil.copyfile(written, tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return new
        merged = upsert_frames(current, new, list(ENTITIES[entity].key))
        self.write(entity, merged)
        return merged


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
