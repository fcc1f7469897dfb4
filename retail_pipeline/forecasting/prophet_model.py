"""Prophet per series, with weekly and yearly seasonality.

Prophet is the model the previous design used for every series; it stays in the zoo as
the reference a buyer knows. One Prophet is an optimisation per series (about 0.2 s on
this machine), so the pipeline only offers it where a level has at most
``prophet_max_series`` series (the aggregated levels, and small panels); the benchmark
runs it on all 500 store-item series.

Prophet logs every fit through cmdstanpy; setting the logger level alone does not stop
that, so ``_import_prophet`` also calls ``cmdstanpy.disable_logging()`` after the import.
``n_jobs > 1`` fits series in parallel worker processes (joblib); each series is an
independent fit, so the results are the same as with ``n_jobs=1``.

Holidays: with a ``calendar`` (``events.HolidayCalendar``) Prophet gets the same country
holidays, user events and Christmas / Black Friday / Easter peaks as the tree models, as
its ``holidays`` frame over the history and the horizon.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.base import DEFAULT_INTERVAL, NotFittedError, check_horizon
from retail_pipeline.forecasting.events import HolidayCalendar
from retail_pipeline.forecasting.matrix import SeriesMatrix


def _import_prophet():
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    logging.getLogger("prophet").setLevel(logging.ERROR)  # per-series advice, not errors
    import cmdstanpy
    from prophet import Prophet  # noqa: PLC0415 - heavy import, only when Prophet is used

    cmdstanpy.disable_logging()
    logging.getLogger("cmdstanpy").setLevel(logging.CRITICAL)
    return Prophet


def _fit_predict_one(ds: np.ndarray, y: np.ndarray, horizon: int, interval: float,
                     seed: int, holidays: pd.DataFrame | None = None) -> np.ndarray:
    """``(3, horizon)`` array of yhat, lower, upper for one series."""
    Prophet = _import_prophet()
    known = ~np.isnan(y)
    frame = pd.DataFrame({"ds": ds[known], "y": y[known]})
    if len(frame) < 14 or frame["y"].nunique() < 2:
        level = float(frame["y"].mean()) if len(frame) else 0.0
        return np.full((3, horizon), level)
    np.random.seed(seed)  # Prophet samples its intervals with numpy's global generator
    model = Prophet(weekly_seasonality=True, yearly_seasonality=len(frame) >= 365,
                    daily_seasonality=False, interval_width=interval, holidays=holidays)
    model.fit(frame)
    future = model.make_future_dataframe(periods=horizon, include_history=False)
    out = model.predict(future)
    return np.clip(out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy().T, 0, None)


class ProphetForecaster:
    name = "prophet"

    def __init__(self, interval: float = DEFAULT_INTERVAL, n_jobs: int = 1, seed: int = 0,
                 calendar: HolidayCalendar | None = None):
        self.interval = interval
        self.calendar = calendar
        self.n_jobs = n_jobs
        self.seed = seed
        self._matrix: SeriesMatrix | None = None

    def fit(self, history: pd.DataFrame) -> ProphetForecaster:
        # Prophet fits and predicts in one go per series; fitting is deferred to predict()
        # so that the fitted Stan models (large, not needed afterwards) are never kept.
        self._matrix = SeriesMatrix.from_frame(history)
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        if self._matrix is None:
            raise NotFittedError("fit the model before predicting")
        horizon = check_horizon(horizon)
        m = self._matrix
        ds = m.dates.to_numpy()
        holidays = (self.calendar.prophet_holidays(m.dates[0], m.future_dates(horizon)[-1])
                    if self.calendar is not None else None)
        jobs = [(ds, m.values[i], horizon, self.interval, self.seed, holidays)
                for i in range(len(m.values))]
        if self.n_jobs == 1 or len(jobs) == 1:
            results = [_fit_predict_one(*job) for job in jobs]
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=self.n_jobs)(delayed(_fit_predict_one)(*j) for j in jobs)
        stacked = np.stack(results)  # (n, 3, horizon)
        return m.long_frame(m.future_dates(horizon), yhat=stacked[:, 0],
                            yhat_lower=stacked[:, 1], yhat_upper=stacked[:, 2])
