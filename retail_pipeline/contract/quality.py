"""Data-quality rules shared by the asset checks (plain pandas, no Dagster).

Each rule returns the offending rows so that a failed check can show them, not just count
them.
"""

from __future__ import annotations

import pandas as pd


def duplicate_keys(frame: pd.DataFrame, key: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Every row whose key occurs more than once."""
    return frame[frame.duplicated(list(key), keep=False)]


def below(frame: pd.DataFrame, column: str, minimum: float, inclusive: bool = True) -> pd.DataFrame:
    """Rows where ``column`` is below ``minimum`` (or at it, when ``inclusive`` is False)."""
    values = frame[column].astype("float64")
    return frame[values < minimum] if inclusive else frame[values <= minimum]


def unknown_references(frame: pd.DataFrame, column: str, known: pd.Series) -> pd.DataFrame:
    """Rows whose non-empty ``column`` value is not among ``known`` keys."""
    present = frame[column].notna()
    return frame[present & ~frame[column].isin(known)]


def coverage(frame: pd.DataFrame, column: str, known: pd.Series) -> float:
    """Share of rows with a non-empty ``column`` whose value is known (1.0 when none)."""
    present = int(frame[column].notna().sum())
    if present == 0:
        return 1.0
    return 1.0 - len(unknown_references(frame, column, known)) / present


def last_upload_per_entity(ledger_entries: dict[str, dict]) -> dict[str, pd.Timestamp]:
    """When each entity last received an accepted upload, from the ingestion ledger's entries."""
    latest: dict[str, pd.Timestamp] = {}
    for entry in ledger_entries.values():
        when = pd.Timestamp(entry["ingested_at"])
        for entity, rows in (entry.get("rows") or {}).items():
            if rows and (entity not in latest or when > latest[entity]):
                latest[entity] = when
    return latest


def exact_duplicate_lines(frame: pd.DataFrame, key: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Lines equal to an earlier line in every column but the key: the extra copies (a line
    exported twice gets a new line id but is the same sale, so it would be counted twice)."""
    others = [c for c in frame.columns if c not in key]
    if frame.empty or not others:
        return frame.iloc[0:0]
    return frame[frame.duplicated(others, keep="first")]


def zero_price_lines(frame: pd.DataFrame, price: str = "actual_price", quantity: str = "quantity") -> pd.DataFrame:
    """Lines with units but a price of 0 (e.g. stock adjustments exported as sales: they add
    units sold and no revenue)."""
    prices = frame[price].astype("float64")
    units = frame[quantity].astype("float64")
    return frame[(prices == 0) & (units != 0)]


OUTLIER_FACTOR = 50
OUTLIER_FLOOR = 100


def unit_outliers(frame: pd.DataFrame, quantity: str = "quantity", by: str = "product_id",
                  factor: float = OUTLIER_FACTOR, floor: float = OUTLIER_FLOOR) -> pd.DataFrame:
    """Lines whose units (either sign) are more than ``factor`` times the median units per line
    of the same product, and at least ``floor``: the order of ten thousand units where a line
    usually holds a dozen."""
    if frame.empty:
        return frame
    units = frame[quantity].astype("float64").abs()
    typical = units.groupby(frame[by]).transform("median")
    return frame[(units >= floor) & (units > factor * typical)]


def unknown_ids(frame: pd.DataFrame, column: str, known: set) -> dict:
    """How many of ``frame``'s distinct ``column`` values are not in ``known``: ``ids``,
    ``unknown_ids``, ``unknown_rows`` and the first ``examples``."""
    values = frame[column].dropna()
    distinct = pd.unique(values)
    unknown = [v for v in distinct if v not in known]
    return {"ids": len(distinct), "unknown_ids": len(unknown),
            "unknown_rows": int(values.isin(unknown).sum()), "examples": [str(v) for v in unknown[:5]]}
