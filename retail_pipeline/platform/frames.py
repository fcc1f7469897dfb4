"""DataFrames to Parquet bytes and back with their pandas dtypes intact.

Parquet has no notion of pandas 3's ``str`` dtype, nullable ``Int64``, or nanosecond
timestamps (pyarrow reads them back as ``datetime64[us]``). The dtypes a frame had are
stored in the file's schema metadata and restored on read, so a frame handed between two
assets through the Parquet IO manager compares equal to the one that was written.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DTYPES_KEY = b"retail_pipeline.dtypes"


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"only DataFrames are stored as Parquet, not {type(frame).__name__}")
    if not frame.columns.is_unique:
        raise ValueError("a frame with duplicate column names cannot be stored as Parquet")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
    meta = {**(table.schema.metadata or {}), DTYPES_KEY: json.dumps(dtypes).encode()}
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buffer)
    return buffer.getvalue()


def from_parquet_bytes(data: bytes, columns: list[str] | None = None) -> pd.DataFrame:
    """The stored frame; ``columns``: only these (those the file has), a fraction of the memory
    of a wide frame."""
    source = io.BytesIO(data)
    if columns is not None:
        present = set(pq.read_schema(source).names)
        columns = [c for c in columns if c in present]
        source.seek(0)
    table = pq.read_table(source, columns=columns)
    frame = table.to_pandas()
    stored = (table.schema.metadata or {}).get(DTYPES_KEY)
    if stored:
        for column, dtype in json.loads(stored).items():
            if column in frame.columns and str(frame[column].dtype) != dtype:
                frame[column] = frame[column].astype(dtype)
    return frame
