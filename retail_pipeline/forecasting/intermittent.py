"""Intermittent demand: Croston, SBA and TSB, for series that sell on few days.

A product that sells a handful of units every few days defeats models built for smooth
series: one-year-back lags are mostly zero, and seasonal naive forecasts zero on most days.
The classic answer separates *how much* is sold when something is sold (the demand size
``z``) from *how often* (the interval ``p`` between sales, or the probability ``q`` of a
sale on a day) and smooths each with exponential smoothing:

- Croston (1972): ``z`` and ``p`` are updated on days with a sale; forecast ``z / p``.
- SBA (Syntetos-Boylan approximation, 2005): Croston times ``1 - alpha / 2``, which removes
  Croston's known upward bias.
- TSB (Teunter-Syntetos-Babai, 2011): ``q`` is updated every day (towards 1 on a sale day,
  towards 0 otherwise) and ``z`` on sale days; forecast ``q * z``. Because ``q`` decays on
  days without sales it follows a product whose demand is fading, which Croston cannot.

All three forecast a flat daily mean, which lags behind a seasonal peak: into December
they smooth October's demand and forecast it for Christmas (on the sample data the
champion, SBA, was 10% short over its October-December backtest folds). So by default
(``seasonal=True``) they smooth *deseasonalised* demand, each day's units divided by the
level's weekday x month shape (pooled over the level's series, ``profile.seasonal_shape``:
hundreds of sparse series show the yearly shape together that none shows alone), and
multiply the flat forecast back by the shape of each forecast day, the classic seasonal
adjustment of intermittent demand. Where the level has no year and a half of history, the
month factors are 1 and only the weekday shape applies. They are computed for all series
of a level at once, one vectorised smoothing step per day. ``statsforecast`` has
them too but pins pandas below 3, so they are implemented here (short and tested against
hand-computed values).

Their own interval is the 10th/90th percentile of the last year's one-step-ahead errors
``y[t] - forecast[t-1]`` of each series; the pipeline replaces the champion's bounds with
conformal ones from the backtest, as for every model.

``intermittent_series`` says which series are intermittent: more than ``zero_share``
(default half) of their days in the last year sold nothing. The pipeline offers these
models at a level only when it has such series, and the leaderboard marks them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.base import DEFAULT_INTERVAL, NotFittedError, check_horizon
from retail_pipeline.forecasting.matrix import SeriesMatrix
from retail_pipeline.forecasting.profile import seasonal_shape, shape_on

METHODS = ("croston", "sba", "tsb")
INTERMITTENT_ZERO_SHARE = 0.5


def zero_share(history: pd.DataFrame, last_days: int = 365) -> pd.Series:
    """Per series: share of its last ``last_days`` days (from its first sale) without sales."""
    recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=last_days)]
    return (recent["y"] <= 0).groupby(recent["series_id"]).mean()


def intermittent_series(history: pd.DataFrame,
                        threshold: float = INTERMITTENT_ZERO_SHARE) -> pd.Series:
    """Per series: True where more than ``threshold`` of the last year's days sold nothing."""
    return zero_share(history) > threshold


def smooth(values: np.ndarray, method: str, alpha: float = 0.1,
           beta: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``(final forecast per series, one-step-ahead forecasts (n, T))`` of ``method``.

    ``values`` is a ``series x day`` array, NaN before each series starts. The one-step
    forecast for day ``t`` uses days before ``t`` only (NaN until the first sale).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    n, T = values.shape
    size = np.full(n, np.nan)  # smoothed demand size
    gap = np.full(n, np.nan)  # Croston/SBA: smoothed interval between sales
    prob = np.full(n, np.nan)  # TSB: smoothed probability of a sale
    since = np.ones(n)  # days from the last sale to the current day
    started = np.zeros(n, dtype=bool)
    steps = np.full((n, T), np.nan)
    for t in range(T):
        steps[:, t] = _forecast(size, gap, prob, method, alpha)
        y = values[:, t]
        known = ~np.isnan(y)
        sale = known & (y > 0)
        first = sale & np.isnan(size)
        size = np.where(first, y, np.where(sale, size + alpha * (y - size), size))
        if method == "tsb":
            # the probability starts on the series' first known day, at the first sale's 1
            new = known & ~started
            prob = np.where(new, sale.astype(float), prob)
            prob = np.where(known & ~new, prob + beta * (sale - prob), prob)
        else:
            # the interval to the first sale counts from the day before the series starts
            gap = np.where(first, since, np.where(sale, gap + alpha * (since - gap), gap))
            since = np.where(sale, 1.0, np.where(known, since + 1.0, since))
        started |= known
    return _forecast(size, gap, prob, method, alpha), steps


def _forecast(size, gap, prob, method, alpha):
    if method == "tsb":
        return np.where(np.isnan(size), np.nan, prob * size)
    rate = size / gap
    return rate * (1 - alpha / 2) if method == "sba" else rate


class IntermittentForecaster:
    """Croston, SBA or TSB for every series of a panel (see module docstring)."""

    def __init__(self, method: str = "tsb", alpha: float = 0.1, beta: float = 0.05,
                 interval: float = DEFAULT_INTERVAL, seasonal: bool = True):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        self.method = self.name = method
        self.alpha, self.beta, self.interval = alpha, beta, interval
        self.seasonal = seasonal
        self._matrix: SeriesMatrix | None = None
        self._shape: tuple[np.ndarray, np.ndarray] = (np.ones(7), np.ones(12))

    def fit(self, history: pd.DataFrame) -> IntermittentForecaster:
        self._matrix = SeriesMatrix.from_frame(history)
        values = self._matrix.values
        if self.seasonal:
            self._shape = seasonal_shape(values, self._matrix.dates)
        shape = shape_on(*self._shape, self._matrix.dates)
        with np.errstate(invalid="ignore", divide="ignore"):
            # a weekday the level never sells on (shape 0) is no chance to sell: unknown
            adjusted = np.where(shape[None, :] > 0, values / shape[None, :], np.nan)
        level, steps = smooth(adjusted, self.method, self.alpha, self.beta)
        self._level = np.nan_to_num(level, nan=0.0)
        resid = (values - steps * shape[None, :])[:, -365:]
        alpha = (1 - self.interval) / 2
        empty = np.isnan(resid).all(axis=1)
        resid = np.where(empty[:, None], 0.0, resid)
        self._lo = np.nanquantile(resid, alpha, axis=1)
        self._hi = np.nanquantile(resid, 1 - alpha, axis=1)
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        if self._matrix is None:
            raise NotFittedError("fit the model before predicting")
        horizon = check_horizon(horizon)
        dates = self._matrix.future_dates(horizon)
        yhat = self._level[:, None] * shape_on(*self._shape, dates)[None, :]
        return self._matrix.long_frame(
            dates, yhat=yhat,
            yhat_lower=np.clip(yhat + self._lo[:, None], 0, None),
            yhat_upper=np.clip(yhat + self._hi[:, None], 0, None))
