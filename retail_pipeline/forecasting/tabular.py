"""Shared machinery of the tree models: features in, ratio-to-level target, mean forecasts out.

The Random Forest and the gradient-boosting model differ only in the estimator; both
learn the ratio ``y / (level + 1)`` from the leakage-free features in ``lags`` over all
series they are given (a *global* model), on the most recent ``train_days`` target days.
The level is a function of the features, so a model of the ratio's conditional mean is a
model of the mean of ``y`` (not of its geometric mean, as the earlier ``log1p`` target was;
see ``lags``). The forest weights each row by ``level + 1`` so that a leaf predicts
``sum(y) / sum(level + 1)``; the boosting model fits unweighted (scikit-learn bins weighted
features with one weighted percentile per bin edge, which took 25 s of a 40 s test), and
both then multiply their forecasts by ``units_correction``, the ratio of actual to fitted
units over a sample of training rows, so the units they forecast add up to the units sold
(a bias correction; it is close to 1 and clipped to 0.8-1.25, ``base.clip_correction``). ``calendar`` adds the
holiday, event and peak features of ``events``.

Their own interval is the 10th/90th percentile of in-sample residuals on the
``sqrt(yhat + 1)`` scale (the Poisson-like scale of count data). In-sample residuals are
smaller than real forecast errors, so these bounds are too narrow; the pipeline replaces
the champion's bounds with conformal ones from the backtest, and the leaderboard reports
both coverages so the difference is visible.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.base import (
    DEFAULT_INTERVAL,
    NotFittedError,
    check_horizon,
    clip_correction,
)
from retail_pipeline.forecasting.events import HolidayCalendar
from retail_pipeline.forecasting.lags import build_features, from_ratio, to_ratio
from retail_pipeline.forecasting.matrix import SeriesMatrix


class TabularForecaster:
    name = "tabular"
    weighted = True  # rows weighted by level + 1 in the fit (see module docstring)

    def __init__(self, horizon: int = 30, train_days: int = 730,
                 interval: float = DEFAULT_INTERVAL, max_train_rows: int | None = None,
                 random_state: int = 0, calendar: HolidayCalendar | None = None):
        self.horizon = check_horizon(horizon)
        self.calendar = calendar
        self.units_correction = 1.0
        self.train_days = int(train_days)
        self.interval = interval
        self.max_train_rows = max_train_rows
        self.random_state = random_state
        self.feature_names: list[str] = []
        self.training_window: tuple[str, str] | None = None
        self.n_train_rows = 0
        self._matrix: SeriesMatrix | None = None
        self.estimator = None

    def _make_estimator(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _compute(self):
        """Context around estimator calls (thread limits); none by default."""
        return nullcontext()

    def training_rows(self, matrix: SeriesMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X, z, scale`` for the last ``train_days`` days with a known target."""
        T = matrix.values.shape[1]
        self.n_series = matrix.values.shape[0]
        days = np.arange(max(0, T - self.train_days), T)
        block = build_features(matrix.values, matrix.dates[0], days, self.horizon,
                               self.calendar)
        y = matrix.values[:, days].reshape(-1)
        keep = ~np.isnan(y) & np.isfinite(block.scale)
        if self.max_train_rows is not None and keep.sum() > self.max_train_rows:
            rng = np.random.default_rng(self.random_state)
            chosen = rng.choice(np.flatnonzero(keep), self.max_train_rows, replace=False)
            keep = np.zeros_like(keep)
            keep[chosen] = True
        X = block.X[keep]
        # Features that are unknown on every training row (e.g. two-years-back values on
        # a younger panel) or constant (no user events) carry nothing: leave them out.
        if len(X):
            filled = np.where(np.isnan(X), X[np.argmax(~np.isnan(X), axis=0),
                                              np.arange(X.shape[1])], X)
            varies = (filled != filled[0]).any(axis=0)
            self._columns = np.flatnonzero(~np.isnan(X).all(axis=0) & varies)
        else:
            self._columns = np.arange(X.shape[1])
        self.feature_names = [block.names[i] for i in self._columns]
        return X[:, self._columns], to_ratio(y[keep], block.scale[keep]), block.scale[keep]

    def fit(self, history: pd.DataFrame) -> TabularForecaster:
        matrix = SeriesMatrix.from_frame(history)
        X, z, scale = self.training_rows(matrix)
        if len(z) == 0:
            raise ValueError("history too short to build any training row")
        self.estimator = self._make_estimator()
        with self._compute():
            if self.weighted:
                self.estimator.fit(X, z, sample_weight=scale + 1.0)
            else:
                self.estimator.fit(X, z)
        # In-sample residuals on a fixed sample: predicting every training row again
        # would cost as much as a tenth of the fit and the quantiles barely move.
        rng = np.random.default_rng(self.random_state)
        sample = rng.choice(len(z), min(len(z), 20_000), replace=False)
        with self._compute():
            fitted = from_ratio(self.estimator.predict(X[sample]), scale[sample])
        actual = from_ratio(z[sample], scale[sample])
        self.units_correction = clip_correction(actual.sum() / max(fitted.sum(), 1e-9))
        fitted = fitted * self.units_correction
        resid = (actual - fitted) / np.sqrt(fitted + 1.0)
        alpha = (1 - self.interval) / 2
        self._resid_q = (float(np.quantile(resid, alpha)), float(np.quantile(resid, 1 - alpha)))
        self._matrix = matrix
        self.n_train_rows = len(z)
        sample = np.random.default_rng(self.random_state).choice(
            len(z), min(len(z), 4000), replace=False)
        self._importance_sample = (X[sample], z[sample])
        start = matrix.dates[max(0, len(matrix.dates) - self.train_days)]
        self.training_window = (start.date().isoformat(), matrix.last_date.date().isoformat())
        return self

    def predict(self, horizon: int | None = None) -> pd.DataFrame:
        if self._matrix is None or self.estimator is None:
            raise NotFittedError("fit the model before predicting")
        horizon = check_horizon(horizon or self.horizon, self.horizon)
        matrix = self._matrix
        T = matrix.values.shape[1]
        days = np.arange(T, T + horizon)
        block = build_features(matrix.values, matrix.dates[0], days, self.horizon,
                               self.calendar)
        with self._compute():
            yhat = self.units_correction * from_ratio(
                self.estimator.predict(block.X[:, self._columns]), block.scale)
        spread = np.sqrt(yhat + 1.0)
        lo, hi = self._resid_q
        return matrix.long_frame(matrix.future_dates(horizon), yhat=yhat,
                                 yhat_lower=np.clip(yhat + lo * spread, 0, None),
                                 yhat_upper=np.clip(yhat + hi * spread, 0, None))

    def feature_importances(self) -> pd.DataFrame:
        """``feature, importance`` (normalised to sum to 1), largest first."""
        if self.estimator is None:
            raise NotFittedError("fit the model first")
        with self._compute():
            raw = np.asarray(self._raw_importances(), dtype=float)
        raw = np.clip(raw, 0, None)
        total = raw.sum()
        imp = raw / total if total > 0 else raw
        return (pd.DataFrame({"feature": self.feature_names, "importance": imp})
                .sort_values("importance", ascending=False, kind="stable")
                .reset_index(drop=True))

    def _raw_importances(self) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


IMPORTANCE_COLUMNS = ["model", "cohort", "feature", "importance"]


def importances_of(champions: dict, *extra: pd.DataFrame) -> pd.DataFrame:
    """``model, cohort, feature, importance`` of every tree model among the champions.

    ``champions`` maps a level to ``(model name, fitted model)``; models without importances
    (seasonal naive, Prophet) are skipped. ``extra`` frames of the same columns are appended.
    """
    parts = []
    for level, (name, model) in champions.items():
        if hasattr(model, "feature_importances"):
            imp = model.feature_importances()
            imp.insert(0, "cohort", f"level={level}")
            imp.insert(0, "model", name)
            parts.append(imp)
    parts = [p[IMPORTANCE_COLUMNS] for p in [*parts, *extra] if len(p)]
    if not parts:
        return pd.DataFrame({"model": pd.Series(dtype="str"), "cohort": pd.Series(dtype="str"),
                             "feature": pd.Series(dtype="str"),
                             "importance": pd.Series(dtype="float64")})
    return pd.concat(parts, ignore_index=True)
