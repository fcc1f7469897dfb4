"""The one interface every forecasting model implements.

``fit(history)`` takes a long frame ``series_id, ds, y`` (one or many daily series, all
ending on the same day) and returns the fitted model; ``predict(horizon)`` returns the
next ``horizon`` days of every series as ``series_id, ds, yhat, yhat_lower, yhat_upper``.
The bounds are each model's own 80% interval; the pipeline replaces the champion's with
conformal bounds calibrated on the backtest (see ``intervals``). With one interface the
backtest, the champion selection and the registry treat every model alike.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

FORECAST_COLUMNS = ["series_id", "ds", "yhat", "yhat_lower", "yhat_upper"]
DEFAULT_INTERVAL = 0.8
# A units correction (actual / forecast) is kept within 0.8..1.25: a 20% cut or a 25% raise,
# the same distance on the log scale, the scale of a multiplier (0.8 undoes 1.25).
MAX_CORRECTION = 1.25


def clip_correction(factor: float, limit: float = MAX_CORRECTION) -> float:
    """``factor`` within ``1 / limit .. limit``."""
    return float(min(max(factor, 1 / limit), limit))


@runtime_checkable
class Forecaster(Protocol):
    name: str

    def fit(self, history: pd.DataFrame) -> Forecaster: ...

    def predict(self, horizon: int) -> pd.DataFrame: ...


class NotFittedError(RuntimeError):
    pass


def check_horizon(horizon: int, limit: int | None = None) -> int:
    horizon = int(horizon)
    if horizon < 1:
        raise ValueError("horizon must be at least 1 day")
    if limit is not None and horizon > limit:
        raise ValueError(f"this model was fitted for horizons up to {limit} days, "
                         f"asked for {horizon}; refit it with a longer horizon")
    return horizon
