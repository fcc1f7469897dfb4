"""Leakage-free features for the tree models (direct multi-horizon scheme).

One model predicts every day of the forecast horizon. To make that honest, a feature for
target day ``d`` only reads sales at least ``min_lag`` days before ``d``, with
``min_lag`` equal to the longest horizon the model will be asked for. A forecast made at
origin ``o`` for ``d <= o + min_lag`` then reads nothing after ``o``, and the training
rows (``d <= o``) are built by exactly the same rule, so training and prediction see the
same kind of information. This is enforced by construction: ``build_features`` only
receives the history array that ends at the origin and raises if a lookup would need a
later day.

Features (``L = min_lag``, ``A`` = the first multiple of 7 that is ``>= L``, so lag ``A``
falls on the same weekday as the target):

- calendar: day of week, day of year, month, day of month;
- same-weekday lags: lag ``A`` and the mean of 4 and 8 same-weekday values from ``A`` on;
- level: means of the 28, 91 and 364 days ending ``L`` days before the target, and the
  364-day mean one year earlier (their ratio is the year-on-year growth);
- last year: the value 364 days back, and 7-day, 28-day and same-weekday means around
  it (two years back when one year back would be closer than ``L``);
- series profiles from the history: the series' mean per weekday and per month divided by
  its overall mean (a target encoding of weekly and yearly shape);
- the log of the 364-day level.

Sales of different series differ by orders of magnitude, so level-like features are
divided by the series' recent level (``scale``, the 364-day mean, or the longest shorter
window that exists) and the model learns the ratio ``y / (scale + 1)``. One global model
can then share what it learns about weekly and yearly shape across all series of a level.
The ratio, not its logarithm: a model fitted to ``log1p`` values predicts a geometric mean,
which on spiky, intermittent demand is far below the arithmetic mean a buyer stocks for
(issue 11 measured -25 units against a mean of 47 on UCI Online Retail). The tree models fit
the ratio with a Poisson loss weighted by ``scale + 1`` (see ``tabular``), which is exactly
the Poisson likelihood of ``y`` with the level as an offset, so the forecast estimates the
mean.

Calendar: given a ``HolidayCalendar`` (``events``), the features also hold country holidays,
user events and the days to and since Christmas, Black Friday and Easter of the target day;
those depend on the date only, so they are known for every future day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.events import HolidayCalendar

YEAR = 364  # 52 weeks: one year back on the same weekday


@dataclass(frozen=True)
class FeatureBlock:
    """Features for ``n_series x n_targets`` rows, flattened series-major."""

    X: np.ndarray  # (rows, features)
    scale: np.ndarray  # (rows,) level each row's target is expressed relative to
    names: list[str]


class _Windows:
    """O(1) NaN-aware window means and lags over a history array via cumulative sums."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.last = values.shape[1] - 1
        known = ~np.isnan(values)
        zeros = np.zeros((values.shape[0], 1))
        self.sums = np.concatenate([zeros, np.cumsum(np.where(known, values, 0.0), axis=1)], 1)
        self.counts = np.concatenate([zeros, np.cumsum(known, axis=1)], 1)

    def _check(self, end: np.ndarray) -> None:
        if end.size and end.max() > self.last:
            raise AssertionError("feature would read past the end of the history (leakage)")

    def mean(self, end: np.ndarray, width: int) -> np.ndarray:
        """Mean of the ``width`` days ending at day index ``end`` (NaN if < half known)."""
        self._check(end)
        stop = end + 1
        start = np.clip(stop - width, 0, None)
        ok = stop > 0
        stop_c, start_c = np.clip(stop, 0, None), start
        total = self.sums[:, stop_c] - self.sums[:, start_c]
        count = self.counts[:, stop_c] - self.counts[:, start_c]
        enough = (count >= max(1, width // 2)) & ok[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(enough, total / np.where(count == 0, 1, count), np.nan)

    def lag(self, target: np.ndarray, k: int) -> np.ndarray:
        idx = target - k
        self._check(idx)
        ok = idx >= 0
        out = np.full((self.values.shape[0], len(target)), np.nan)
        out[:, ok] = self.values[:, idx[ok]]
        return out


def _yearly_offset(smallest_lag: int, min_lag: int) -> int:
    """364, or 728 if a one-year-back window would come closer than ``min_lag``."""
    return YEAR if smallest_lag >= min_lag else 2 * YEAR


def build_features(history: np.ndarray, first_date: pd.Timestamp, target_days: np.ndarray,
                   min_lag: int, calendar: HolidayCalendar | None = None) -> FeatureBlock:
    """Features for every series and every target day index (see module docstring).

    ``history`` is the ``series x day`` array ending at the forecast origin, day 0 being
    ``first_date``; ``target_days`` may run up to ``min_lag`` days past its end.
    """
    # errstate (thread-local) rather than warnings filters (process-global, not
    # thread-safe): the backtest builds features in several threads at once.
    with np.errstate(invalid="ignore", divide="ignore"):
        return _build(history, first_date, target_days, min_lag, calendar)


def _nanmean(arrays: list[np.ndarray]) -> np.ndarray:
    """Element-wise mean over the known values of same-shaped arrays; NaN if none known."""
    stack = np.stack(arrays)
    known = ~np.isnan(stack)
    count = known.sum(0)
    total = np.where(known, stack, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _build(history: np.ndarray, first_date: pd.Timestamp, target_days: np.ndarray,
           min_lag: int, calendar: HolidayCalendar | None) -> FeatureBlock:
    if min_lag < 1:
        raise ValueError("min_lag must be at least 1")
    target_days = np.asarray(target_days, dtype=int)
    w = _Windows(history)
    L = min_lag
    A = 7 * int(np.ceil(L / 7))
    anchor = target_days - L
    raw: dict[str, np.ndarray] = {}
    raw["mean_28"] = w.mean(anchor, 28)
    raw["mean_91"] = w.mean(anchor, 91)
    raw["mean_364"] = w.mean(anchor, YEAR)
    raw["mean_364_prev"] = w.mean(anchor - YEAR, YEAR)
    raw["lag_same_weekday"] = w.lag(target_days, A)
    raw["same_weekday_mean_4"] = _nanmean([w.lag(target_days, A + 7 * k) for k in range(4)])
    raw["same_weekday_mean_8"] = _nanmean([w.lag(target_days, A + 7 * k) for k in range(8)])
    y1 = _yearly_offset(YEAR, L)
    raw["last_year"] = w.lag(target_days, y1)
    y7 = _yearly_offset(YEAR - 3, L)
    raw["last_year_mean_7"] = w.mean(target_days - y7 + 3, 7)
    y28 = _yearly_offset(YEAR - 14, L)
    raw["last_year_mean_28"] = w.mean(target_days - y28 + 14, 28)
    yd = _yearly_offset(YEAR - 7, L)
    raw["last_year_weekday_mean"] = _nanmean(
        [w.lag(target_days, yd + 7 * k) for k in (-1, 0, 1, 2)])
    raw["two_years_weekday_mean"] = _nanmean(
        [w.lag(target_days, 2 * YEAR + 7 * k) for k in (-1, 0, 1, 2)])

    scale = raw["mean_364"].copy()
    for fallback in (raw["mean_91"], raw["mean_28"]):
        scale = np.where(np.isnan(scale), fallback, scale)
    known = ~np.isnan(history)
    series_mean = np.where(known, history, 0.0).sum(1) / np.maximum(known.sum(1), 1)
    scale = np.where(np.isnan(scale), series_mean[:, None], scale)
    # net units (sales minus returns) can average below zero; a level is never negative
    scale = np.clip(scale, 0.0, None)
    denom = scale + 1.0

    dates = first_date + pd.to_timedelta(target_days, unit="D")
    hist_dates = first_date + pd.to_timedelta(np.arange(history.shape[1]), unit="D")
    profile_base = series_mean[:, None] + 1e-9
    dow_profile = _profile(history, hist_dates.day_of_week.to_numpy(), 7) / profile_base
    month_profile = _profile(history, hist_dates.month.to_numpy() - 1, 12) / profile_base

    n = history.shape[0]
    feats: dict[str, np.ndarray] = {name: values / denom for name, values in raw.items()}
    feats["growth"] = (raw["mean_364"] + 1.0) / (raw["mean_364_prev"] + 1.0)
    feats["log_level"] = np.log1p(scale)
    feats["weekday_profile"] = dow_profile[:, dates.day_of_week.to_numpy()]
    feats["month_profile"] = month_profile[:, dates.month.to_numpy() - 1]
    for name, cal in (("day_of_week", dates.day_of_week), ("day_of_year", dates.day_of_year),
                      ("month", dates.month), ("day_of_month", dates.day)):
        feats[name] = np.broadcast_to(np.asarray(cal, dtype=float), (n, len(target_days)))
    if calendar is not None:
        for name, values in calendar.features(dates).items():
            feats[name] = np.broadcast_to(values, (n, len(target_days)))
    names = list(feats)
    X = np.stack([np.asarray(feats[k], dtype=float).reshape(-1) for k in names], axis=1)
    return FeatureBlock(X=X, scale=scale.reshape(-1), names=names)


def _profile(history: np.ndarray, bucket: np.ndarray, n_buckets: int) -> np.ndarray:
    """Mean of each series per calendar bucket (weekday or month), NaN where never seen."""
    known = ~np.isnan(history)
    vals = np.where(known, history, 0.0)
    out = np.full((history.shape[0], n_buckets), np.nan)
    for b in range(n_buckets):
        cols = bucket == b
        if cols.any():
            cnt = known[:, cols].sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, b] = np.where(cnt > 0, vals[:, cols].sum(1) / np.maximum(cnt, 1), np.nan)
    return out


def to_ratio(y: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Training target: ``y / (scale + 1)`` (sales relative to the series' level)."""
    return np.clip(y, 0, None) / (scale + 1.0)


def from_ratio(r: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of ``to_ratio``, clipped at zero sales."""
    return np.clip(r * (scale + 1.0), 0.0, None)
