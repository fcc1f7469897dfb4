"""Seasonal naive: the floor every other model has to beat.

The forecast for a day is the sales of the same weekday one year (364 days) back
(``season="year"``) or of the same weekday in the last observed week (``season="week"``).
It costs nothing, captures weekly and yearly shape exactly, and anything more elaborate
that cannot beat it on the backtest is not worth its cost. Where a series has no value a
year back (it is younger than a year) the weekly rule fills in.

Its 80% interval is the 10th/90th percentile of the series' own seasonal differences
``y[t] - y[t - season]`` over the last year of history: the spread of "this period minus
the same period one season earlier", which is exactly the error the rule makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.base import DEFAULT_INTERVAL, NotFittedError, check_horizon
from retail_pipeline.forecasting.matrix import SeriesMatrix

_SEASONS = {"year": 364, "week": 7}


class SeasonalNaive:
    def __init__(self, season: str = "year", interval: float = DEFAULT_INTERVAL):
        if season not in _SEASONS:
            raise ValueError(f"season must be one of {', '.join(_SEASONS)}")
        self.season = season
        self.interval = interval
        self.name = f"seasonal_naive_{season}" if season != "year" else "seasonal_naive"
        self._matrix: SeriesMatrix | None = None

    def fit(self, history: pd.DataFrame) -> SeasonalNaive:
        self._matrix = SeriesMatrix.from_frame(history)
        values = self._matrix.values
        period = _SEASONS[self.season]
        alpha = (1 - self.interval) / 2
        recent = values[:, -min(values.shape[1], 365 + period):]
        diffs = recent[:, period:] - recent[:, :-period] if recent.shape[1] > period else None
        if diffs is None or np.isnan(diffs).all():
            week = values[:, -min(values.shape[1], 372):]
            diffs = week[:, 7:] - week[:, :-7] if week.shape[1] > 7 else np.zeros((len(values), 1))
        # rows without any known difference get a zero-width band (no warning: filters
        # are process-global and the backtest fits models in several threads)
        empty = np.isnan(diffs).all(axis=1)
        diffs = np.where(empty[:, None], 0.0, diffs)
        self._lo = np.nanquantile(diffs, alpha, axis=1)
        self._hi = np.nanquantile(diffs, 1 - alpha, axis=1)
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        if self._matrix is None:
            raise NotFittedError("fit the model before predicting")
        horizon = check_horizon(horizon)
        yhat = seasonal_naive_values(self._matrix.values, horizon, _SEASONS[self.season])
        return self._matrix.long_frame(
            self._matrix.future_dates(horizon), yhat=yhat,
            yhat_lower=np.clip(yhat + self._lo[:, None], 0, None),
            yhat_upper=np.clip(yhat + self._hi[:, None], 0, None))


def seasonal_naive_values(values: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """``(n, horizon)`` naive forecasts from a ``(n, T)`` history (see module docstring)."""
    n, T = values.shape
    steps = np.arange(1, horizon + 1)
    weekly = T - 1 + steps - 7 * np.ceil(steps / 7).astype(int)  # same weekday, last week
    weekly_vals = np.where(weekly >= 0, values[:, np.clip(weekly, 0, None)], np.nan)
    if period == 7:
        out = weekly_vals
    else:
        back = T - 1 + steps - period * np.ceil(steps / period).astype(int)
        yearly = np.where(back >= 0, values[:, np.clip(back, 0, None)], np.nan)
        out = np.where(np.isnan(yearly), weekly_vals, yearly)
    return np.nan_to_num(out, nan=0.0)
