"""Wide marketing exports (one row per date, columns per channel) to long rows.

A ``WideSpec`` says declaratively which column holds what:

- ``date``: the date column;
- ``channels``: channel name -> ``{"spend": col, "impressions": col, "clicks": col,
  "reach": col, "conversions": col, "revenue": col}`` (spend required, the rest optional);
- ``outcome``: either ``{"revenue": col}`` or ``{"conversions": col,
  "revenue_per_conversion": col}`` (revenue = conversions x revenue per conversion);
- ``controls``: control columns (competitor sales, events, promotions, sentiment) kept in
  the outcomes series; text controls (Robyn's ``events``) become 0/1 indicators per value.

``to_long`` returns the ``marketing_spend`` rows (``date, channel, spend, impressions,
...``) and the outcomes series (``date, revenue`` plus controls). Unknown columns named in
a spec raise an error naming the column, so a wrong mapping is rejected, not guessed.
``ROBYN_WEEKLY`` and ``MERIDIAN_NATIONAL`` are the worked specs of the two shared layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

METRICS = ("spend", "impressions", "reach", "clicks", "conversions", "revenue")


@dataclass(frozen=True)
class WideSpec:
    date: str
    channels: dict[str, dict[str, str]]
    outcome: dict[str, str]
    controls: tuple[str, ...] = ()
    na_values: tuple[str, ...] = field(default=("na", "NA", ""))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "wide mapping") -> WideSpec:
        """A spec from the ``wide:`` section of a mapping file (parsed YAML)::

            wide:
              date: DATE
              channels:
                tv: {spend: tv_S}
                facebook: {spend: facebook_S, impressions: facebook_I}
                search: {spend: search_S, clicks: search_clicks_P}
              outcome: {revenue: revenue}
              controls: [competitor_sales_B, events]
        """
        unknown = set(raw) - {"date", "channels", "outcome", "controls"}
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}; known: date, "
                             "channels, outcome, controls")
        for key, kind in (("date", str), ("channels", dict), ("outcome", dict)):
            if not isinstance(raw.get(key), kind):
                raise ValueError(f"{source}: '{key}' must be a {kind.__name__}")
        channels = {}
        for name, metrics in raw["channels"].items():
            if not isinstance(metrics, dict):
                raise ValueError(f"{source}: channel {name!r} must map metrics to columns")
            channels[str(name)] = {str(k): str(v) for k, v in metrics.items()}
        controls = raw.get("controls") or []
        if not isinstance(controls, list):
            raise ValueError(f"{source}: 'controls' must be a list of column names")
        return cls(date=raw["date"], channels=channels,
                   outcome={str(k): str(v) for k, v in raw["outcome"].items()},
                   controls=tuple(str(c) for c in controls))

    def columns(self) -> list[str]:
        cols = [self.date, *self.outcome.values(), *self.controls]
        for metrics in self.channels.values():
            cols += list(metrics.values())
        return cols

    def check(self, frame: pd.DataFrame, file: str = "") -> None:
        for name, metrics in self.channels.items():
            if "spend" not in metrics:
                raise ValueError(f"wide mapping: channel {name!r} has no spend column")
            unknown = set(metrics) - set(METRICS)
            if unknown:
                raise ValueError(f"wide mapping: channel {name!r} has unknown metric(s) "
                                 f"{sorted(unknown)}; known: {', '.join(METRICS)}")
        if self.outcome and set(self.outcome) not in ({"revenue"}, {"conversions", "revenue_per_conversion"}):
            raise ValueError("wide mapping: the outcome is either {revenue} or {conversions, "
                             f"revenue_per_conversion}}, got {sorted(self.outcome)}")
        missing = [c for c in self.columns() if c not in frame.columns]
        if missing:
            raise ValueError(f"{file or 'wide file'}: column(s) {missing} named in the wide "
                             f"mapping are not in the file (it has {list(frame.columns)})")


def _number(frame: pd.DataFrame, column: str, file: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # 1-based, after the header
        raise ValueError(f"{file or 'wide file'}: row {row}, column {column!r}: "
                         f"{frame[column].iloc[row - 2]!r} is not a number")
    return values


def to_long(frame: pd.DataFrame, spec: WideSpec, file: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(marketing_spend rows, outcomes series)`` of a wide export (see module docstring)."""
    spec.check(frame, file)
    dates = pd.to_datetime(frame[spec.date]).dt.normalize()
    rows = []
    for channel, metrics in spec.channels.items():
        part = pd.DataFrame({"date": dates, "channel": channel})
        for metric in METRICS:
            if metric in metrics:
                part[metric] = _number(frame, metrics[metric], file)
        rows.append(part)
    long = pd.concat(rows, ignore_index=True)
    for col in ("impressions", "reach", "clicks"):
        if col in long:
            long[col] = long[col].round().astype("Int64")
    long = long.sort_values(["date", "channel"], ignore_index=True)
    if not spec.outcome:  # a mapping file may leave the outcome out: revenue unknown
        revenue = pd.Series(np.nan, index=frame.index)
    elif "revenue" in spec.outcome:
        revenue = _number(frame, spec.outcome["revenue"], file)
    else:
        revenue = (_number(frame, spec.outcome["conversions"], file)
                   * _number(frame, spec.outcome["revenue_per_conversion"], file))
    outcomes = pd.DataFrame({"date": dates, "revenue": revenue.to_numpy("float64")})
    for control in spec.controls:
        values = frame[control].where(~frame[control].astype("str").isin(spec.na_values))
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():
            outcomes[control] = numeric.fillna(0.0).to_numpy("float64")
        else:  # a text control: one indicator per value
            for value in sorted(values.dropna().astype("str").unique()):
                outcomes[f"{control}_{value}"] = (values.astype("str") == value).astype("float64").to_numpy()
    return long, outcomes.sort_values("date", ignore_index=True)


ROBYN_WEEKLY = WideSpec(
    date="DATE",
    channels={
        "tv": {"spend": "tv_S"},
        "ooh": {"spend": "ooh_S"},
        "print": {"spend": "print_S"},
        "facebook": {"spend": "facebook_S", "impressions": "facebook_I"},
        "search": {"spend": "search_S", "clicks": "search_clicks_P"},
    },
    outcome={"revenue": "revenue"},
    controls=("competitor_sales_B", "events"),
)
"""``robyn_dt_simulated_weekly.csv`` (Robyn's ``dt_simulated_weekly``): weekly revenue, five
paid channels, the newsletter as an organic channel (left out: no spend) and two controls."""

MERIDIAN_NATIONAL = WideSpec(
    date="time",
    channels={f"Channel{i}": {"spend": f"Channel{i}_spend", "impressions": f"Channel{i}_impression"}
              for i in range(5)},
    outcome={"conversions": "conversions", "revenue_per_conversion": "revenue_per_conversion"},
    controls=("competitor_sales_control", "sentiment_score_control", "Promo"),
)
"""``meridian_national_all_channels.csv`` (Meridian's national simulated data): weekly
conversions times revenue per conversion, five paid channels with impressions, and three
controls (the organic impressions column is left out: no spend)."""
