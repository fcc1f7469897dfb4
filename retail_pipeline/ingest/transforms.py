"""Row-level steps that real exports need before their rows fit the contract.

Shared by the built-in layouts (invoice lines, Shopify, WooCommerce) and by mapping files,
so a step behaves the same whichever way it is asked for. Every function takes and returns
text columns (nothing is typed here: the contract decides what a valid value is) and keeps
the frame's row order and index, so row numbers stay those of the file.

* ``fill_down``: order-level fields that an export writes on an order's first row only;
* ``composite_key`` / ``position_key``: a line id from several columns, or from a group
  column plus the line's position within the group (an invoice number repeats on every
  line of its invoice);
* ``matches``: which rows a simple condition selects (row filters, computed line types).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

KEY_SEPARATOR = "-"


def blank(values: pd.Series) -> pd.Series:
    """True where a text cell is missing or only spaces."""
    return values.isna() | (values.astype("str").str.strip() == "")


def fill_down(frame: pd.DataFrame, columns: Sequence[str], group: str) -> pd.DataFrame:
    """Copy each group's first non-empty value of ``columns`` onto its rows where empty.

    Rows of one group need not be adjacent; a value never crosses into another group.
    """
    out = frame.copy()
    keys = frame[group].astype("str").str.strip()
    for column in columns:
        values = frame[column].where(~blank(frame[column]))
        first = values.groupby(keys, sort=False).transform("first")
        out[column] = values.fillna(first).astype("str").where(values.notna() | first.notna(), "")
    return out


def composite_key(frame: pd.DataFrame, columns: Sequence[str], separator: str = KEY_SEPARATOR) -> pd.Series:
    """One text key from several columns, e.g. ``489434`` and ``85048`` -> ``489434-85048``.

    Empty parts stay empty (``489434-``), so an incomplete key is still visibly incomplete.
    """
    parts = [frame[c].fillna("").astype("str").str.strip() for c in columns]
    key = parts[0]
    for part in parts[1:]:
        key = key + separator + part
    return key.astype("str")


def strip_text(values: pd.Series) -> pd.Series:
    """Text without surrounding spaces, empty for missing; skips the strip when no value can
    start or end with whitespace (checked on the bytes, much cheaper than stripping)."""
    from retail_pipeline.ingest.fast_validate import needs_strip

    text = values.fillna("").astype("str")
    try:
        arrow = pa.array(text.array, from_pandas=True)  # zero-copy for pandas' arrow-backed text
        arrow = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return text.str.strip()
    return text.str.strip() if needs_strip(arrow) else text


def position_key(frame: pd.DataFrame, group: str, separator: str = KEY_SEPARATOR) -> pd.Series:
    """``<group value><separator><n>``: n counts the group's rows in file order from 1.

    Stable across re-exports of the same document as long as its lines keep their order,
    so a corrected invoice replaces its earlier version line by line. Vectorised (hash codes,
    one stable sort of integers, one arrow join), as invoice files have hundreds of thousands
    of lines.
    """
    keys = strip_text(frame[group])
    codes, _ = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(codes) else np.zeros(0, int)
    first = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    position = np.empty(len(codes), dtype=np.int64)
    position[order] = np.arange(len(codes)) - first + 1
    joined = pc.binary_join_element_wise(pa.array(keys, type=pa.large_string(), from_pandas=True),
                                         pc.cast(pa.array(position), pa.large_string()),
                                         pa.scalar(separator, pa.large_string()))
    return pd.Series(joined, index=frame.index, dtype=pd.StringDtype("pyarrow", np.nan))


_OPERATORS = ("equals", "in", "starts_with", "ends_with", "contains", "matches", "empty", "not_empty")


@dataclass(frozen=True)
class Condition:
    """``column`` compared by one operator; text comparison after stripping spaces.

    ``equals``/``in``/``starts_with``/``ends_with``/``contains`` ignore case; ``matches`` is
    a full-match regular expression; ``empty``/``not_empty`` take no value.
    """

    column: str
    operator: str
    value: str | tuple[str, ...] | None = None

    def __post_init__(self):
        if self.operator not in _OPERATORS:
            raise ValueError(f"unknown condition '{self.operator}' (known: {', '.join(_OPERATORS)})")
        if self.operator == "matches":
            re.compile(str(self.value))  # raises re.error for a broken pattern

    def text(self) -> str:
        if self.operator in ("empty", "not_empty"):
            return f"{self.column} is {self.operator.replace('_', ' ')}"
        shown = ", ".join(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.column} {self.operator.replace('_', ' ')} {shown!r}"

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        raw = frame[self.column]
        empty = blank(raw)
        if self.operator == "empty":
            return empty.to_numpy()
        if self.operator == "not_empty":
            return (~empty).to_numpy()
        text = raw.fillna("").astype("str").str.strip()
        if self.operator == "matches":
            return text.str.fullmatch(str(self.value)).fillna(False).to_numpy(dtype=bool)
        lower = text.str.lower()
        if self.operator == "in":
            return lower.isin([str(v).strip().lower() for v in self.value]).to_numpy()
        value = str(self.value).strip().lower()
        if self.operator == "equals":
            return (lower == value).to_numpy()
        if self.operator == "starts_with":
            return lower.str.startswith(value).to_numpy(dtype=bool)
        if self.operator == "ends_with":
            return lower.str.endswith(value).to_numpy(dtype=bool)
        return lower.str.contains(value, regex=False).to_numpy(dtype=bool)


def any_of(frame: pd.DataFrame, conditions: Sequence[Condition]) -> np.ndarray:
    """Rows matching at least one condition."""
    out = np.zeros(len(frame), dtype=bool)
    for condition in conditions:
        out |= condition.mask(frame)
    return out
