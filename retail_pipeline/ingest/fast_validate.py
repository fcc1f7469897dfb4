"""A vectorised pyarrow check of the contract for the common case: a file with no problems.

``contract.validate`` is the single source of the rules and of the exact problem
messages, but it works through pandas object arrays and costs several times the time to
read a large file. This module derives the same checks from the same ``Entity`` and
``Column`` definitions (required, number, whole number, min/max, date, unique key) and
runs them with pyarrow compute. It only ever answers "valid, here is the canonical
table" or "not sure": anything it cannot confirm (a bad value, a date in a form other
than ``YYYY-MM-DD[ HH:MM:SS]`` without a ``date_format``, an impossible date such as
2024-02-30, a date that does not round-trip through its ``date_format``, NaN text)
returns ``None`` and the caller runs ``contract.validate``, which accepts or names every
problem. ``test_fast_validate`` checks that both give identical tables on accepted files
and that the fast path steps aside on every file the contract rejects.

Work that cannot change the answer is skipped: whitespace is only stripped from a column
when some value starts or ends with a byte that may be whitespace (seen on the raw
bytes), and a single-column key is checked for repeats in its own column's task.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_pipeline.contract import (
    DATE,
    EARLIEST_DATE,
    ENTITIES,
    INTEGER,
    LATEST_DATE,
    STRING,
    Entity,
)

# A value that starts or ends with one of these bytes may have whitespace to strip (ASCII
# controls and space, and every byte of a multi-byte character); otherwise stripping is a
# no-op and is skipped.
_MAYBE_SPACE = np.zeros(256, dtype=bool)
_MAYBE_SPACE[:0x21] = True
_MAYBE_SPACE[0x7F:] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0"):ord("9") + 1] = True


def _chunk_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(value offsets, data bytes) of a string chunk as numpy views, or None."""
    if chunk.type == pa.string():
        width = np.int32
    elif chunk.type == pa.large_string():
        width = np.int64
    else:
        return None
    _, offsets, data = chunk.buffers()
    offsets = np.frombuffer(offsets, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data


def needs_strip(raw: pa.ChunkedArray) -> bool:
    """False when no value can start or end with whitespace (checked on the bytes)."""
    for chunk in raw.chunks:
        parts = _chunk_bytes(chunk)
        if parts is None:
            return True
        offsets, data = parts
        used = data[offsets[0]:offsets[-1]]
        if not ((used - np.uint8(0x21)) >= 0x5E).any():  # no such byte at all (uint8 wraps)
            continue
        starts, ends = offsets[:-1], offsets[1:]
        filled = ends > starts
        if not filled.all():
            starts, ends = starts[filled], ends[filled]
        if len(starts) and (_MAYBE_SPACE[data[starts]].any() or _MAYBE_SPACE[data[ends - 1]].any()):
            return True
    return False


_ISO_SHAPES = {10: "dddd-dd-dd", 19: "dddd-dd-dd dd:dd:dd"}  # " " also matches "T"


def _shape_ok(rows: np.ndarray, shape: str) -> bool:
    """``rows`` (n x len(shape) bytes) match ``shape`` ("d": a digit 0-9)."""
    digits = np.array([c == "d" for c in shape])
    if not ((rows[:, digits] - np.uint8(ord("0"))) < 10).all():  # uint8 wraps below "0"
        return False
    for i, char in enumerate(shape):
        if char == " ":
            if not ((rows[:, i] == ord(" ")) | (rows[:, i] == ord("T"))).all():
                return False
        elif char != "d" and not (rows[:, i] == ord(char)).all():
            return False
    return True


def _iso_shaped(text: pa.ChunkedArray) -> bool:
    """Every value is exactly ``YYYY-MM-DD`` or ``YYYY-MM-DD[ T]HH:MM:SS`` (all digits where
    digits belong): the forms whose strict ISO 8601 parse equals pandas' reading."""
    for chunk in text.chunks:
        if chunk.null_count:
            chunk = chunk.drop_null()
        parts = _chunk_bytes(chunk)
        if parts is None:
            return False
        offsets, data = parts
        starts = offsets[:-1]
        lengths = offsets[1:] - starts
        for width, shape in _ISO_SHAPES.items():
            same = lengths == width
            if same.all():  # one form: the values are one contiguous n x width block
                rows = data[offsets[0]:offsets[-1]].reshape(len(chunk), width)
            elif same.any():
                rows = data[starts[same][:, None] + np.arange(width)]
            else:
                continue
            if not _shape_ok(rows, shape):
                return False
        if not ((lengths == 10) | (lengths == 19)).all():
            return False
    return True


def _dates(text: pa.ChunkedArray, date_format: str | None) -> pa.ChunkedArray | None:
    """Timestamps[ns] when every value certainly parses exactly as pandas would and lies in the
    contract's date range, else None.

    Without a format only the fixed ISO forms are taken (Arrow's cast rejects impossible
    dates such as 2024-02-30 or 23:59:60, like pandas). With a format, ``strptime`` must
    round-trip: it normalises impossible dates (30.02. becomes 01.03.), pandas rejects them.
    """
    if date_format and ("%z" in date_format or "%Z" in date_format):
        return None  # offsets are dropped to keep the wall time: contract.validate does that
    parsed = _parse_dates(text, date_format)
    if parsed is None:
        return None
    low, high = pc.min_max(parsed).values()
    if low.is_valid and (low.as_py() < EARLIEST_DATE or high.as_py() > LATEST_DATE):
        return None  # the contract names each out-of-range date
    return parsed


def _parse_dates(text: pa.ChunkedArray, date_format: str | None) -> pa.ChunkedArray | None:
    if date_format is None:
        if not _iso_shaped(text):
            return None
        try:
            return pc.cast(text, pa.timestamp("ns"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    parsed = pc.strptime(text, format=date_format, unit="ns", error_is_null=True)
    if parsed.null_count != text.null_count:
        return None
    try:
        again = pc.strftime(pc.cast(parsed, pa.timestamp("s")), format=date_format)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pc.all(pc.equal(again, text)).as_py() is False:
        return None
    return parsed


def validate_fast(frame: pd.DataFrame, entity: Entity | str, date_format: str | None = None) -> pd.DataFrame | None:
    """The canonical table when every rule certainly holds, else None (use contract.validate)."""
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    if len(frame) == 0 or any(c not in frame.columns for c in entity.required_names):
        return None
    absent = [c for c in entity.column_names if c not in frame.columns]
    if absent:  # optional columns left out of the header: every value empty
        frame = frame.assign(**{name: pd.Series(None, index=frame.index, dtype="str") for name in absent})
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    single_key = entity.key[0] if len(entity.key) == 1 else None

    def check(col):
        checked = _column(col, table.column(col.name), col.name in entity.key, date_format)
        if checked is not None and col.name == single_key and not _unique([checked[1]], len(frame)):
            return None  # the key's uniqueness is checked in its column's task, beside the others
        return checked

    with ThreadPoolExecutor(max_workers=min(len(entity.columns), os.cpu_count() or 1)) as pool:
        checked = list(pool.map(check, entity.columns))
    if any(c is None for c in checked):
        return None
    out = {col.name: series for col, (series, _) in zip(entity.columns, checked, strict=True)}
    key_text = {col.name: key for col, (_, key) in zip(entity.columns, checked, strict=True)}
    if single_key is None and not _unique([key_text[k] for k in entity.key], len(frame)):
        return None
    if any(rule.broken(out).any() for rule in entity.row_rules):
        return None
    result = pd.DataFrame(out, copy=False)  # fresh columns: nothing to protect by copying
    for extra in frame.columns:
        if extra not in result.columns:
            result[extra] = frame[extra].astype("str").where(frame[extra].notna(), None).astype("str").array
    return result


def _column(col, raw: pa.ChunkedArray, is_key: bool, date_format: str | None):
    """(canonical Series, key text or None) when every rule of ``col`` holds, else None."""
    if raw.type != pa.string() and raw.type != pa.large_string():
        return None
    text = pc.utf8_trim_whitespace(raw) if needs_strip(raw) else raw
    blank = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
    has_blank = pc.any(blank).as_py()
    if has_blank and not col.nullable:
        return None
    present = pc.if_else(blank, pa.scalar(None, pa.string()), text) if has_blank else text
    if col.kind == STRING:
        if col.choices:
            present = pc.utf8_lower(present)
            if not pc.all(pc.or_kleene(pc.is_null(present), pc.is_in(present, pa.array(col.choices)))).as_py():
                return None
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
    missing = np.isnan(values)
    given = values[~missing] if numbers.null_count else values
    if col.kind == INTEGER and ((np.floor(given) != given).any() or (np.abs(given) >= 2.0**53).any()):
        return None  # (beyond 2**53 a float no longer says which whole number was written)
    if col.min is not None:
        low = given <= col.min if col.min_exclusive else given < col.min
        if low.any():
            return None
    if col.max is not None and (given > col.max).any():
        return None
    if col.nonzero and (given == 0).any():
        return None
    key = pc.cast(numbers, pa.string()) if is_key else None
    if col.kind == INTEGER:  # whole numbers within min..max: exact as int64
        whole = np.where(missing, 0, values).astype(np.int64) if numbers.null_count else values.astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(whole, missing)), key
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
