"""Series as a dense ``series x day`` array: the shape every model computes on.

Lag and rolling-window features for hundreds of series over years of days are column
slices and cumulative sums of one array, which takes milliseconds; doing the same with
grouped pandas shifts takes seconds. All series share one calendar; days before a
series' first sale are ``NaN`` (unknown, not zero) so that no model mistakes "did not
exist yet" for "sold nothing".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ("series_id", "ds", "y")


@dataclass(frozen=True)
class SeriesMatrix:
    series_ids: np.ndarray  # (n,) str
    dates: pd.DatetimeIndex  # (T,) daily, contiguous
    values: np.ndarray  # (n, T) float, NaN before a series starts

    @classmethod
    def from_frame(cls, history: pd.DataFrame) -> SeriesMatrix:
        """Pivot a long ``series_id, ds, y`` frame; the calendar is made contiguous."""
        missing = set(HISTORY_COLUMNS) - set(history.columns)
        if missing:
            raise KeyError(f"history lacks column(s): {', '.join(sorted(missing))}")
        if history.empty:
            raise ValueError("cannot fit a forecaster on an empty history")
        ds = pd.to_datetime(history["ds"]).dt.normalize()
        dates = pd.date_range(ds.min(), ds.max(), freq="D")
        codes, ids = pd.factorize(history["series_id"].astype(str), sort=True)
        ids = np.asarray(ids, dtype=object)
        values = np.full((len(ids), len(dates)), np.nan)
        cols = ((ds - dates[0]).dt.days).to_numpy()
        values[codes, cols] = history["y"].to_numpy(dtype=float)
        # Inside a series (after its first known day) a missing day is a zero-sales day.
        started = np.maximum.accumulate(~np.isnan(values), axis=1)
        values = np.where(started & np.isnan(values), 0.0, values)
        return cls(ids.astype(object), dates, values)

    @property
    def last_date(self) -> pd.Timestamp:
        return self.dates[-1]

    def future_dates(self, horizon: int) -> pd.DatetimeIndex:
        return pd.date_range(self.last_date + pd.Timedelta(days=1), periods=horizon, freq="D")

    def long_frame(self, dates: pd.DatetimeIndex, **columns: np.ndarray) -> pd.DataFrame:
        """Long frame ``series_id, ds, <columns>`` from ``(n, len(dates))`` arrays."""
        n = len(self.series_ids)
        out = {"series_id": np.repeat(self.series_ids, len(dates)),
               "ds": np.tile(dates.to_numpy(), n)}
        for name, array in columns.items():
            out[name] = np.asarray(array, dtype=float).reshape(-1)
        return pd.DataFrame(out)
