"""Conformal prediction intervals calibrated on the backtest.

A model's own interval says "80%" but covers what it covers: Prophet's assumes its trend
and noise model are right, the tree models' come from in-sample residuals and are too
narrow. Split-conformal calibration fixes that without assumptions about the model: take
the backtest errors of the model (forecasts it made without seeing the actuals), and use
their 10th and 90th percentiles as the band around future forecasts. If the future errors
behave like the backtest errors, 80% of actuals land inside.

Two choices make the band fit each row:

- errors are on the ``sqrt(yhat + 1)`` scale, ``r = (y - yhat) / sqrt(yhat + 1)``: sales
  counts are roughly Poisson, whose spread grows with the square root of the level, so
  one quantile of ``r`` fits a small and a large series alike (raw errors would give a
  small series the band of a big one);
- quantiles are kept per level and per horizon bucket (days 1-7, 8-14, 15-30, 31-60,
  61-90, 91+), since errors grow with the horizon and the levels have different noise.

The quantile uses the finite-sample conformal rank ``ceil((n + 1) q) / n``. A bucket
with fewer than ``min_count`` errors borrows the quantiles of the whole level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BUCKET_EDGES = (7, 14, 30, 60, 90)


def horizon_bucket(h) -> np.ndarray:
    """Bucket index of horizon day(s) ``h`` (1-based)."""
    return np.searchsorted(np.asarray(BUCKET_EDGES), np.asarray(h), side="left")


def scaled_residual(y, yhat) -> np.ndarray:
    yhat = np.clip(np.asarray(yhat, float), 0, None)
    return (np.asarray(y, float) - yhat) / np.sqrt(yhat + 1.0)


def _conformal_quantile(r: np.ndarray, q: float) -> float:
    n = len(r)
    level = min(1.0, np.ceil((n + 1) * q) / n) if q >= 0.5 else max(0.0, np.floor((n + 1) * q) / n)
    return float(np.quantile(r, level, method="higher" if q >= 0.5 else "lower"))


@dataclass
class ConformalCalibrator:
    interval: float = 0.8
    min_count: int = 50
    quantiles: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)

    def fit(self, errors: pd.DataFrame) -> ConformalCalibrator:
        """``errors`` has ``level, h, y, yhat`` rows of backtest forecasts."""
        alpha = (1 - self.interval) / 2
        r = scaled_residual(errors["y"], errors["yhat"])
        bucket = horizon_bucket(errors["h"].to_numpy())
        codes, levels = pd.factorize(errors["level"])
        self.quantiles = {}
        for code, level in enumerate(levels):
            in_level = codes == code
            rl = r[in_level]
            self.quantiles[(level, -1)] = (_conformal_quantile(rl, alpha),
                                           _conformal_quantile(rl, 1 - alpha))
            for b in np.unique(bucket[in_level]):
                rb = r[in_level & (bucket == b)]
                if len(rb) >= self.min_count:
                    self.quantiles[(level, int(b))] = (_conformal_quantile(rb, alpha),
                                                       _conformal_quantile(rb, 1 - alpha))
        return self

    def bounds(self, level: pd.Series, h) -> tuple[np.ndarray, np.ndarray]:
        """Residual quantiles ``(lo, hi)`` per row: the row's level and horizon bucket, else the
        whole level's, else NaN (a level the calibrator never saw)."""
        bucket = horizon_bucket(np.asarray(h))
        lo, hi = np.full(len(bucket), np.nan), np.full(len(bucket), np.nan)
        codes, levels = pd.factorize(level)
        for code, name in enumerate(levels):
            in_level = codes == code
            whole = self.quantiles.get((name, -1), (np.nan, np.nan))
            for b in np.unique(bucket[in_level]):
                rows = in_level & (bucket == b)
                lo[rows], hi[rows] = self.quantiles.get((name, int(b)), whole)
        return lo, hi

    def apply(self, forecast: pd.DataFrame) -> pd.DataFrame:
        """Copy of ``forecast`` (``level, h, yhat``) with conformal ``yhat_lower/upper``."""
        out = forecast.copy()
        lo, hi = self.bounds(out["level"], out["h"].to_numpy())
        # the point forecast always lies inside its interval, even when the backtest errors of a
        # (bias-corrected) model all fell on one side of it
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        yhat = np.clip(out["yhat"].to_numpy(float), 0, None)
        spread = np.sqrt(yhat + 1.0)
        out["yhat_lower"] = np.clip(yhat + lo * spread, 0, None)
        out["yhat_upper"] = np.clip(yhat + hi * spread, 0, None)
        return out


def cross_fold_coverage(errors: pd.DataFrame, interval: float = 0.8) -> pd.DataFrame:
    """Honest backtest coverage of conformal bounds: each fold calibrated on the others.

    Returns ``errors`` with ``conformal_lower``/``conformal_upper`` columns; the leaderboard
    reports how often actuals fall inside them. Needs at least two folds.
    """
    folds = errors["fold"].to_numpy()
    lower, upper = np.full(len(errors), np.nan), np.full(len(errors), np.nan)
    for fold in np.unique(folds):
        rest, part = folds != fold, folds == fold
        if rest.any():
            cal = ConformalCalibrator(interval=interval).fit(errors[rest])
            banded = cal.apply(errors.loc[part, ["level", "h", "yhat"]])
            lower[part] = banded["yhat_lower"].to_numpy()
            upper[part] = banded["yhat_upper"].to_numpy()
    return errors.assign(conformal_lower=lower, conformal_upper=upper)
