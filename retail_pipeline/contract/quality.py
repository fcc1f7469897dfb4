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
