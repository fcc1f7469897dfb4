"""Holidays and events: what the calendar knows about a day that the sales history cannot.

With one or two years of history a model cannot learn a December peak, or a sale that moves
from year to year, from lags alone. ``HolidayCalendar`` tells every model about them:

- public holidays of one country from the ``holidays`` library (``country`` is an ISO code
  such as ``DE`` or ``GB``, or a country name such as ``United Kingdom``; ``None`` = none);
- user events: a small CSV with columns ``date,name`` (a promotion, a local fair, a shop's
  anniversary sale), read by ``read_events``;
- the largest retail peaks, whatever the country: Christmas (25 December), Black Friday
  (the Friday after the fourth Thursday of November) and Western Easter Sunday.

``features(dates)`` turns them into columns for the tree models: ``holiday`` (1 on a
country holiday), ``event`` (1 on a user event), and ``days_to_<peak>`` /
``days_since_<peak>`` for each peak (0 on the day itself). Distances are clipped at ``FAR`` days: "more than two months away" is one
value, so a tree does not split on the distance to a peak half a year off. Prophet gets
the same holidays and events through ``prophet_holidays``.

Everything here depends only on the calendar, never on sales, so these features are known
for any future day without leakage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from dateutil.easter import easter

PEAKS = ("christmas", "black_friday", "easter")
FAR = 60  # days; distances are clipped here
HOLIDAY_COLUMNS = ["date", "name", "kind"]
CALENDAR_FEATURES = ("holiday", "event",
                     *(f"days_{d}_{p}" for p in PEAKS for d in ("to", "since")))


def peak_date(peak: str, year: int) -> pd.Timestamp:
    """The day of ``peak`` (one of ``PEAKS``) in ``year``."""
    if peak == "christmas":
        return pd.Timestamp(year=year, month=12, day=25)
    if peak == "black_friday":
        nov = pd.date_range(f"{year}-11-01", f"{year}-11-30")
        return nov[nov.dayofweek == 3][3] + pd.Timedelta(days=1)
    if peak == "easter":
        return pd.Timestamp(easter(year))
    raise ValueError(f"unknown peak {peak!r}; known: {', '.join(PEAKS)}")


def country_code(country: str | None) -> str | None:
    """ISO code for a code or an English country name (``United Kingdom`` -> ``GB``)."""
    if not country or not str(country).strip():
        return None
    import holidays  # noqa: PLC0415 - only when holidays are used

    text = str(country).strip()
    supported = holidays.list_supported_countries()
    if text.upper() in supported:
        return text.upper()
    from holidays.registry import COUNTRIES  # noqa: PLC0415

    key = text.lower().replace(" ", "_").replace("-", "_")
    aliases = {"eire": "ireland", "uk": "united_kingdom", "usa": "united_states"}
    entry = COUNTRIES.get(aliases.get(key, key))
    if entry is None:
        raise ValueError(f"unknown country {country!r}: use an ISO code such as DE or GB")
    return entry[1]


# the columns country_of reads (an asset input that only needs the country loads only these)
COUNTRY_COLUMNS: tuple[str, ...] = ("country", "quantity")


def country_of(frame: pd.DataFrame, default: str | None) -> str | None:
    """The most frequent value of ``frame['country']`` when there is one, else ``default``."""
    if "country" in frame.columns and frame["country"].notna().any():
        weights = frame["quantity"] if "quantity" in frame.columns else None
        counts = (frame.groupby("country")["quantity"].sum() if weights is not None
                  else frame["country"].value_counts())
        return str(counts.idxmax())
    return default


def read_events(path: str | Path | None) -> tuple[tuple[pd.Timestamp, str], ...]:
    """``(date, name)`` pairs from a CSV with columns ``date,name`` (empty path: none)."""
    if not path:
        return ()
    frame = pd.read_csv(path)
    missing = {"date", "name"} - set(frame.columns)
    if missing:
        raise KeyError(f"events file {path} lacks column(s): {', '.join(sorted(missing))}")
    return tuple((pd.Timestamp(d).normalize(), str(n))
                 for d, n in zip(frame["date"], frame["name"], strict=True))


@dataclass(frozen=True)
class HolidayCalendar:
    """Country holidays, user events and retail peaks (see module docstring)."""

    country: str | None = None
    events: tuple[tuple[pd.Timestamp, str], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "country", country_code(self.country))
        object.__setattr__(self, "events", tuple(
            (pd.Timestamp(d).normalize(), str(n)) for d, n in self.events))

    @classmethod
    def from_settings(cls, country: str | None, events_path: str | None) -> HolidayCalendar:
        return cls(country or None, read_events(events_path))

    def holidays(self, start, end) -> pd.DataFrame:
        """``date, name, kind`` (``holiday`` or ``event``) between ``start`` and ``end``."""
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        rows = []
        if self.country:
            import holidays  # noqa: PLC0415

            found = holidays.country_holidays(self.country,
                                              years=range(start.year, end.year + 1))
            rows += [(pd.Timestamp(d), name, "holiday") for d, name in found.items()]
        rows += [(d, n, "event") for d, n in self.events]
        frame = pd.DataFrame(rows, columns=HOLIDAY_COLUMNS).astype({"name": str, "kind": str})
        frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
        inside = frame[(frame["date"] >= start) & (frame["date"] <= end)]
        return inside.sort_values(["date", "name"], kind="stable").reset_index(drop=True)

    def features(self, dates: Iterable) -> dict[str, np.ndarray]:
        """One float array per name in ``CALENDAR_FEATURES`` for the given days."""
        dates = pd.DatetimeIndex(dates).normalize()
        if len(dates) == 0:
            return {name: np.zeros(0) for name in CALENDAR_FEATURES}
        # one year either side so the nearest peak or holiday is always found
        lo, hi = dates.min() - pd.Timedelta(days=370), dates.max() + pd.Timedelta(days=370)
        known = self.holidays(lo, hi)
        days = dates.to_numpy()
        out = {
            "holiday": np.isin(days, known.loc[known["kind"] == "holiday", "date"].to_numpy()),
            "event": np.isin(days, known.loc[known["kind"] == "event", "date"].to_numpy()),
        }
        years = range(lo.year, hi.year + 1)
        for peak in PEAKS:
            marks = np.array([peak_date(peak, y) for y in years], dtype="datetime64[ns]")
            out[f"days_to_{peak}"], out[f"days_since_{peak}"] = _distances(days, marks)
        return {name: np.asarray(out[name], dtype=float) for name in CALENDAR_FEATURES}

    def prophet_holidays(self, start, end) -> pd.DataFrame | None:
        """Prophet's ``holidays`` frame (``holiday, ds``) with the peaks, or ``None``."""
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        known = self.holidays(start, end)
        rows = [(name, d) for d, name in zip(known["date"], known["name"], strict=True)]
        rows += [(peak, peak_date(peak, y)) for peak in PEAKS
                 for y in range(start.year, end.year + 1)]
        frame = pd.DataFrame(rows, columns=["holiday", "ds"]).drop_duplicates()
        return frame.reset_index(drop=True) if len(frame) else None


def _distances(days: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days to the next mark (0 on it) and since the previous one, clipped at ``FAR``."""
    marks = np.unique(np.asarray(marks, dtype="datetime64[ns]"))
    if len(marks) == 0:
        far = np.full(len(days), float(FAR))
        return far, far.copy()
    day = np.timedelta64(1, "D")
    nxt = np.searchsorted(marks, days, side="left")
    prv = np.searchsorted(marks, days, side="right") - 1
    to = np.where(nxt < len(marks), (marks[np.clip(nxt, 0, len(marks) - 1)] - days) / day, FAR)
    since = np.where(prv >= 0, (days - marks[np.clip(prv, 0, None)]) / day, FAR)
    return np.clip(to, 0, FAR).astype(float), np.clip(since, 0, FAR).astype(float)
