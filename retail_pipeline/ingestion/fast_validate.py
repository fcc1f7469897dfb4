"""A vectorised pyarrow check of the contract for the common case: a file with no problems.

``contract.validate`` is the single source of the rules and of the exact problem
messages, but it works through pandas object arrays and costs several times the time to
read a large file. This module derives the same checks from the same ``Entity`` and
``Column`` definitions (required, number, whole number, min/max, date, unique key) and
runs them with pyarrow compute. It only ever answers "valid, here is the canonical
table" or "not sure": anything it cannot confirm (a bad value, a date in a form other
than ``YYYY-MM-DD[ HH:MM:SS]`` without a ``date_format``, NaN text) returns ``None`` and
the caller runs ``contract.validate``, which accepts or names every problem. A test
checks that both give identical tables on accepted files.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_pipeline.domain.contract import DATE, ENTITIES, INTEGER, STRING, Entity

_ISO_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


def _dates(text: pa.ChunkedArray, date_format: str | None) -> pa.ChunkedArray | None:
    parsed = None
    for fmt in (date_format,) if date_format else _ISO_FORMATS:
        attempt = pc.strptime(text, format=fmt, unit="ns", error_is_null=True)
        parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
    return parsed


def validate_fast(frame: pd.DataFrame, entity: Entity | str, date_format: str | None = None) -> pd.DataFrame | None:
    """The canonical table when every rule certainly holds, else None (use contract.validate)."""
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    if len(frame) == 0 or any(c not in frame.columns for c in entity.column_names):
        return None
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    with ThreadPoolExecutor(max_workers=min(len(entity.columns), os.cpu_count() or 1)) as pool:
        checked = list(pool.map(lambda col: _column(col, table.column(col.name), col.name in entity.key,
                                                    date_format), entity.columns))
    if any(c is None for c in checked):
        return None
    out = {col.name: series for col, (series, _) in zip(entity.columns, checked, strict=True)}
    key_text = {col.name: key for col, (_, key) in zip(entity.columns, checked, strict=True)}
    if not _unique([key_text[k] for k in entity.key], len(frame)):
        return None
    result = pd.DataFrame(out)
    for extra in frame.columns:
        if extra not in result.columns:
            result[extra] = frame[extra].astype("str").where(frame[extra].notna(), None).astype("str").to_numpy()
    return result


def _column(col, raw: pa.ChunkedArray, is_key: bool, date_format: str | None):
    """(canonical Series, key text or None) when every rule of ``col`` holds, else None."""
    if raw.type != pa.string() and raw.type != pa.large_string():
        return None
    text = pc.utf8_trim_whitespace(raw)
    blank = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
    has_blank = pc.any(blank).as_py()
    if has_blank and not col.nullable:
        return None
    present = pc.if_else(blank, pa.scalar(None, pa.string()), text) if has_blank else text
    if col.kind == STRING:
        return pd.Series(present, dtype=pd.StringDtype("pyarrow", np.nan)), present if is_key else None
    if col.kind == DATE:
        parsed = _dates(present, date_format)
        if parsed is None or parsed.null_count != present.null_count:
            return None
        key = pc.cast(pc.cast(parsed, pa.int64()), pa.string()) if is_key else None
        return pd.Series(parsed.to_numpy(), dtype="datetime64[ns]"), key
    try:
        numbers = pc.cast(present, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pc.any(pc.is_nan(numbers)).as_py():
        return None
    values = numbers.to_numpy(zero_copy_only=False)
    valid = ~np.isnan(values)
    if col.kind == INTEGER and (np.floor(values[valid]) != values[valid]).any():
        return None
    if col.min is not None:
        low = values[valid] <= col.min if col.min_exclusive else values[valid] < col.min
        if low.any():
            return None
    if col.max is not None and (values[valid] > col.max).any():
        return None
    key = pc.cast(numbers, pa.string()) if is_key else None
    if col.kind == INTEGER:
        return pd.Series(pd.array(values, dtype="Float64").astype("Int64")), key
    return pd.Series(values, dtype="float64"), key


def _unique(columns: list[pa.ChunkedArray], rows: int) -> bool:
    """True when no key repeats (an empty key part counts as a value)."""
    if len(columns) == 1:
        key = columns[0]
    else:
        separator = "\x1f"
        if any(pc.any(pc.match_substring(c, separator)).as_py() for c in columns):
            return False  # cannot join safely: let contract.validate decide
        key = pc.binary_join_element_wise(*[pc.cast(pc.fill_null(c, ""), pa.string()) for c in columns], separator)
    return len(pc.unique(key)) == rows
