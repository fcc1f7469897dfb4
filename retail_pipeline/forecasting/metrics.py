"""Forecast accuracy metrics, and why each is on the leaderboard.

- MAE / MSE / RMSE: errors in units sold; what a stock planner feels.
- R2: share of the day-to-day variance the forecast explains.
- sMAPE (percent): ``mean(200 |y - yhat| / (|y| + |yhat|))`` with 0/0 counted as 0;
  scale-free, comparable with published results on the store-item data.
- MASE: MAE divided by the in-sample MAE of the one-week seasonal naive rule on the
  series' own history; below 1 means better than "same weekday last week". Scale-free and
  well-defined on series with many zero days, so it is the champion criterion.
- bias: mean error ``mean(yhat - y)`` in units, and ``bias_pct`` = ``100 sum(yhat - y) /
  sum(y)``, the share of actual demand the forecast over- (positive) or under-states
  (negative). A buyer stocks from the forecast: a model with a good MAE that forecasts half
  of real demand still empties the shelves. The champion rule keeps ``|bias_pct|`` at most
  10 whenever that costs no more than 5% MASE (``backtest.choose_champions``).
- spl (scaled pinball loss): the pinball (quantile) loss of the interval bounds as the
  10% and 90% quantile forecasts, divided by the MASE scale and averaged over series. It
  scores the whole forecast distribution, which is what matters on intermittent series,
  where sMAPE rewards forecasting zero (0/0 counts as perfect), so sMAPE is not reported
  for them.
- coverage: share of actuals inside ``[yhat_lower, yhat_upper]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def smape(y, yhat) -> float:
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    denom = np.abs(y) + np.abs(yhat)
    ratio = np.where(denom == 0, 0.0, 2.0 * np.abs(y - yhat) / np.where(denom == 0, 1, denom))
    return float(100.0 * ratio.mean()) if len(y) else float("nan")


def mae(y, yhat) -> float:
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(yhat, float))))


def mse(y, yhat) -> float:
    return float(np.mean((np.asarray(y, float) - np.asarray(yhat, float)) ** 2))


def rmse(y, yhat) -> float:
    return float(np.sqrt(mse(y, yhat)))


def r2(y, yhat) -> float:
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    total = np.sum((y - y.mean()) ** 2)
    if total == 0:
        return float("nan")
    return float(1.0 - np.sum((y - yhat) ** 2) / total)


def bias(y, yhat) -> float:
    """Mean error ``mean(yhat - y)``: positive = over-forecast."""
    return float(np.mean(np.asarray(yhat, float) - np.asarray(y, float))) if len(y) else float("nan")


def bias_pct(y, yhat) -> float:
    """``100 sum(yhat - y) / sum(y)``: the bias as a share of actual demand (NaN if none)."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    total = y.sum()
    return float(100.0 * (yhat - y).sum() / total) if total > 0 else float("nan")


def pinball(y, q, tau: float) -> np.ndarray:
    """Pinball loss per point of the ``tau`` quantile forecast ``q``."""
    diff = np.asarray(y, float) - np.asarray(q, float)
    return np.maximum(tau * diff, (tau - 1) * diff)


def interval_pinball(y, lower, upper, interval: float = 0.8) -> np.ndarray:
    """Mean pinball loss per point of the bounds as the two quantiles of ``interval``."""
    alpha = (1 - interval) / 2
    return 0.5 * (pinball(y, lower, alpha) + pinball(y, upper, 1 - alpha))


def coverage(y, lower, upper) -> float:
    y = np.asarray(y, float)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    if np.isnan(lower).all() or np.isnan(upper).all():
        return float("nan")
    return float(np.mean((y >= lower) & (y <= upper)))


def naive_scale(history: pd.DataFrame, period: int = 7) -> pd.Series:
    """Per series: in-sample MAE of ``y[t] - y[t - period]`` (the MASE denominator)."""
    frame = history.sort_values(["series_id", "ds"])
    diff = frame.groupby("series_id", sort=False)["y"].diff(period).abs()
    scale = diff.groupby(frame["series_id"], sort=False).mean()
    return scale.where(scale > 0)


def score(frame: pd.DataFrame, scale: pd.Series | None = None,
          lower: str = "yhat_lower", upper: str = "yhat_upper") -> dict[str, float]:
    """All metrics for a frame with ``y``, ``yhat`` (and bounds, and ``series_id`` for MASE).

    MASE and SPL pool as the mean over series of ``loss_series / scale_series``.
    """
    y, yhat = frame["y"].to_numpy(float), frame["yhat"].to_numpy(float)
    out = {"n": float(len(frame)), "mae": mae(y, yhat), "mse": mse(y, yhat),
           "rmse": rmse(y, yhat), "r2": r2(y, yhat), "smape": smape(y, yhat),
           "bias": bias(y, yhat), "bias_pct": bias_pct(y, yhat),
           "coverage80": coverage(y, frame[lower], frame[upper])
           if lower in frame and upper in frame else float("nan")}
    out["mase"] = out["spl"] = float("nan")
    if scale is not None:
        err = (frame["y"] - frame["yhat"]).abs().groupby(frame["series_id"]).mean()
        ratio = err / scale.reindex(err.index)
        out["mase"] = float(ratio.mean()) if ratio.notna().any() else float("nan")
        if lower in frame and upper in frame and frame[lower].notna().any():
            loss = pd.Series(interval_pinball(y, frame[lower], frame[upper]), index=frame.index)
            ratio = loss.groupby(frame["series_id"]).mean() / scale.reindex(err.index)
            out["spl"] = float(ratio.mean()) if ratio.notna().any() else float("nan")
    return out
