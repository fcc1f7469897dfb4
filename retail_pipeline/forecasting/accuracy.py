"""How good were past forecasts? Every stored vintage scored against what actually sold.

``sales_forecast_history`` keeps each forecast run's rows (its vintage) with ``run_id`` and
``created_at``. Once a forecast's dates have passed, the panel holds the actuals: this
module joins the two and scores MAE, bias (mean of forecast minus actual, and as a share of
actual demand) and interval coverage, per level and per age of the forecast (days between
the vintage's origin, the day before its first forecast date, and the forecast date).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

AGE_BUCKETS = [(1, 7, "1-7 days"), (8, 14, "8-14 days"), (15, 30, "15-30 days"),
               (31, 10_000, "31+ days")]
ACCURACY_COLUMNS = ["level", "age_bucket", "vintages", "points", "mae", "bias", "bias_pct",
                    "coverage", "mean_actual"]


def vintage_id(forecast: pd.DataFrame) -> str:
    """Identifies a forecast's content: its first date and the model versions behind it.

    The 30-minute schedule recomputes the forecast often; a new vintage is stored only when
    the data (origin) or a model changed, so history holds one row set per real forecast.
    """
    if forecast.empty:
        return ""
    parts = [str(pd.Timestamp(forecast["date"].min()).date()),
             *sorted(set(forecast["model_version"].astype(str)))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _bucket(age: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=age.index, dtype="str")
    for low, high, label in AGE_BUCKETS:
        out[(age >= low) & (age <= high)] = label
    return out


def forecast_accuracy(history: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """MAE, bias and coverage of every past vintage whose dates have actuals.

    ``history``: rows of ``sales_forecast_history`` (``run_id, date, level, series_id,
    yhat, yhat_lower, yhat_upper``); ``panel``: ``forecast_panel`` (``level, series_id, ds,
    y``). Dates after the panel's last day are not scored yet.
    """
    if history.empty or panel.empty:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    h = history.assign(date=pd.to_datetime(history["date"]))
    origin = h.groupby("run_id")["date"].transform("min") - pd.Timedelta(days=1)
    h = h.assign(age=(h["date"] - origin).dt.days)
    actual = panel[["level", "series_id", "ds", "y"]].rename(columns={"ds": "date"})
    actual = actual.assign(date=pd.to_datetime(actual["date"]))
    joined = h.merge(actual, on=["level", "series_id", "date"], how="inner", validate="many_to_one")
    if joined.empty:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    joined = joined.assign(
        age_bucket=_bucket(joined["age"]),
        error=joined["yhat"] - joined["y"],
        covered=(joined["y"] >= joined["yhat_lower"]) & (joined["y"] <= joined["yhat_upper"]))
    out = joined.groupby(["level", "age_bucket"], sort=True).agg(
        vintages=("run_id", "nunique"), points=("y", "size"),
        mae=("error", lambda e: float(np.abs(e).mean())), bias=("error", "mean"),
        coverage=("covered", "mean"), mean_actual=("y", "mean")).reset_index()
    out["bias_pct"] = np.where(out["mean_actual"] > 0, 100 * out["bias"] / out["mean_actual"],
                               np.nan)
    return out[ACCURACY_COLUMNS]
