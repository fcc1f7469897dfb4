"""Rolling-origin backtest, the leaderboard, and the champion rule.

Backtest: for each of ``n_folds`` origins (the last one ``horizon`` days before the newest
data, earlier ones ``step`` days apart), every candidate model is fitted on the history
up to the origin and forecasts the next ``horizon`` days, which are then compared with
what was actually sold. Every error therefore comes from a forecast made without the
actuals, exactly as in production.

Leaderboard: MAE, MSE, RMSE, R2, sMAPE, MASE, bias (mean error, and as % of actual
demand), the scaled pinball loss of the interval (SPL), the model's own 80% coverage and
the cross-fold conformal 80% coverage (``intervals.cross_fold_coverage``), per level
(``scope="level"``) and per series (``scope="series"``), for every model. ``intermittent``
marks series that are mostly zero (``intermittent.intermittent_series``); their sMAPE is
left empty, since sMAPE rewards forecasting zero on them; they are judged by MASE and SPL.

Champion rule, per level, on the level rows (``choose_champions``):

1. the model with the lowest MASE over all backtest folds (ties broken by SPL, then sMAPE);
2. unless its ``|bias_pct|`` exceeds ``max_bias_pct`` (10) while a candidate within
   10% bias has a MASE at most ``mase_tolerance`` (5%) higher: then the lowest-MASE such
   candidate. A buyer stocks from the forecast, so a forecast that is 20% short is not
   worth a 2% better MASE.

``chosen_by`` on the champion's row says in words which rule chose it and why. Per level
because each level is forecast by one model fitted to all its series at once; per series
choice would pick among noisy three-fold scores (overfitting the selection) and need every
model refitted for every series. MASE rather than sMAPE because it is scale-free *and*
well-behaved on series with many zero days. Only the backtest decides: nothing after the
last fold's actuals is consulted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.base import Forecaster
from retail_pipeline.forecasting.intervals import cross_fold_coverage
from retail_pipeline.forecasting.metrics import interval_pinball, naive_scale, score

# factory(level, n_series, horizon) -> a fresh model, or None if not offered at that level
ModelFactory = Callable[[str, int, int], Forecaster | None]

ERROR_COLUMNS = ["level", "series_id", "model", "fold", "origin", "ds", "h", "y", "yhat",
                 "yhat_lower", "yhat_upper"]
METRICS = ["n", "mae", "mse", "rmse", "r2", "smape", "mase", "bias", "bias_pct", "spl",
           "coverage80", "coverage80_conformal"]
LEADERBOARD_COLUMNS = ["scope", "level", "series_id", "model", "intermittent", *METRICS,
                       "rank", "champion", "chosen_by"]
KEY_COLUMNS = ("level", "model", "series_id")
MAX_BIAS_PCT = 10.0
MASE_TOLERANCE = 0.05


def rolling_origins(last_date: pd.Timestamp, horizon: int, n_folds: int = 3,
                    step: int | None = None) -> list[pd.Timestamp]:
    """Origins, oldest first; the newest leaves exactly ``horizon`` days of actuals."""
    if n_folds < 1:
        raise ValueError("n_folds must be at least 1")
    step = step or horizon
    last_date = pd.Timestamp(last_date)
    return [last_date - pd.Timedelta(days=horizon + step * k) for k in reversed(range(n_folds))]


def backtest_tasks(panel: pd.DataFrame, factories: Mapping[str, ModelFactory], horizon: int,
                   n_folds: int = 3, step: int | None = None) -> list[Callable[[], pd.DataFrame]]:
    """One callable per (level, fold, model): fit on the history to the origin, score."""
    if panel.empty:
        return []
    origins = rolling_origins(panel["ds"].max(), horizon, n_folds, step)
    tasks = []
    for level, part in panel.groupby("level", sort=False):
        for fold, origin in enumerate(origins):
            history = part[part["ds"] <= origin][["series_id", "ds", "y"]]
            if history.empty:
                continue
            actual = part[(part["ds"] > origin)
                          & (part["ds"] <= origin + pd.Timedelta(days=horizon))]
            n_series = history["series_id"].nunique()
            for name, factory in factories.items():
                model = factory(level, n_series, horizon)
                if model is not None:
                    tasks.append(partial(_run_task, level, fold, origin, name, model, history,
                                         actual, horizon))
    return tasks


def run_in_threads(tasks: list[Callable[[], Any]], n_jobs: int = 1) -> list[Any]:
    """Run callables, in a thread pool when ``n_jobs > 1``; results in task order.

    Threads rather than processes: the heavy parts (tree building, Stan optimisation in
    a subprocess) release the GIL, so two threads on two cores nearly halve the wall
    time without copying the panel into worker processes. Results are identical.
    """
    if n_jobs == 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(task)() for task in tasks)


def backtest(panel: pd.DataFrame, factories: Mapping[str, ModelFactory], horizon: int,
             n_folds: int = 3, step: int | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """Errors of every model on every fold: one row per level, series, model, fold, day."""
    rows = run_in_threads(backtest_tasks(panel, factories, horizon, n_folds, step), n_jobs)
    return collect_errors(rows)


def collect_errors(rows: list[pd.DataFrame]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=ERROR_COLUMNS)
    return pd.concat(rows, ignore_index=True)


def _run_task(level, fold, origin, name, model, history, actual, horizon) -> pd.DataFrame:
    pred = model.fit(history).predict(horizon)
    merged = actual[["series_id", "ds", "y"]].merge(pred, on=["series_id", "ds"])
    merged["level"] = level
    merged["model"] = name
    merged["fold"] = fold
    merged["origin"] = origin
    merged["h"] = (merged["ds"] - origin).dt.days
    return merged[ERROR_COLUMNS]


def mase_scales(panel: pd.DataFrame, errors: pd.DataFrame) -> pd.Series:
    """MASE denominators from the history before the first backtest origin."""
    first_origin = errors["origin"].min()
    return naive_scale(panel[panel["ds"] <= first_origin][["series_id", "ds", "y"]])


def leaderboard(errors: pd.DataFrame, scales: pd.Series, interval: float = 0.8,
                intermittent: pd.Series | None = None, max_bias_pct: float = MAX_BIAS_PCT,
                mase_tolerance: float = MASE_TOLERANCE) -> pd.DataFrame:
    """Metrics per level and per series for every model, champions flagged and explained.

    ``intermittent`` maps series_id to True for mostly-zero series (see module docstring).
    """
    columns = LEADERBOARD_COLUMNS
    if errors.empty:
        return pd.DataFrame(columns=columns)
    # group and look up on integer codes rather than on hundreds of thousands of strings
    errors = errors.astype({key: "category" for key in KEY_COLUMNS})
    parts = []
    for _, errs in errors.groupby("model", sort=False):
        if errs["fold"].nunique() > 1:
            parts.append(cross_fold_coverage(errs, interval))
        else:
            parts.append(errs.assign(conformal_lower=np.nan, conformal_upper=np.nan))
    banded = pd.concat(parts)
    flags = (intermittent if intermittent is not None else pd.Series(dtype=bool)).astype(bool)
    rows = [_level_row(level, model, grp, scales, flags)
            for (level, model), grp in banded.groupby(["level", "model"], sort=False)]
    board = pd.concat([pd.DataFrame(rows), _series_rows(banded, scales, flags)],
                      ignore_index=True)
    order = board.assign(_sid=board["series_id"].fillna(""),
                         _m=board["mase"].fillna(np.inf), _p=board["spl"].fillna(np.inf),
                         _s=board["smape"].fillna(np.inf))
    order = order.sort_values(["scope", "level", "_sid", "_m", "_p", "_s"], kind="stable")
    board["rank"] = (order.groupby(["scope", "level", "_sid"], sort=False).cumcount() + 1
                     ).reindex(board.index).astype(int)
    decisions = champion_decisions(board, max_bias_pct, mase_tolerance)
    board["champion"] = [
        scope == "level" and level in decisions and decisions[level][0] == model
        for scope, level, model in zip(board["scope"], board["level"], board["model"],
                                       strict=True)]
    board["chosen_by"] = [decisions[level][1] if champion else None
                          for level, champion in zip(board["level"], board["champion"],
                                                     strict=True)]
    board = board.astype({"level": "str", "model": "str"})
    board["series_id"] = board["series_id"].astype(object).where(board["series_id"].notna(), None)
    return board[columns].sort_values(["scope", "level", "series_id", "rank"],
                                      na_position="first", kind="stable").reset_index(drop=True)


def _level_row(level, model, grp, scales, flags) -> dict:
    metrics = score(grp, scales)
    conformal = score(grp, scales, "conformal_lower", "conformal_upper")
    if pd.notna(conformal["spl"]):  # score the bounds that would be served
        metrics["spl"] = conformal["spl"]
    share = flags.reindex(pd.unique(grp["series_id"])).fillna(False).mean()
    return {"scope": "level", "level": level, "series_id": None, "model": model,
            "intermittent": bool(share > 0.5),
            **{k: metrics[k] for k in METRICS if k != "coverage80_conformal"},
            "coverage80_conformal": conformal["coverage80"]}


def _series_rows(banded: pd.DataFrame, scales: pd.Series, flags: pd.Series) -> pd.DataFrame:
    """The same metrics per series, vectorised (hundreds of series x models)."""
    y, yhat = banded["y"].to_numpy(float), banded["yhat"].to_numpy(float)
    denom = np.abs(y) + np.abs(yhat)
    conformal = banded["conformal_lower"].notna().to_numpy()
    lower = np.where(conformal, banded["conformal_lower"], banded["yhat_lower"]).astype(float)
    upper = np.where(conformal, banded["conformal_upper"], banded["yhat_upper"]).astype(float)
    work = pd.DataFrame({
        "level": banded["level"].array, "model": banded["model"].array,
        "series_id": banded["series_id"].array,
        "ae": np.abs(y - yhat), "se": (y - yhat) ** 2, "y": y, "y2": y * y,
        "err": yhat - y, "pin": interval_pinball(y, lower, upper),
        "sm": np.where(denom == 0, 0.0, 200 * np.abs(y - yhat) / np.where(denom == 0, 1, denom)),
        "cov": ((y >= banded["yhat_lower"].to_numpy(float))
                & (y <= banded["yhat_upper"].to_numpy(float))).astype(float),
        "ccov": ((y >= banded["conformal_lower"].to_numpy(float))
                 & (y <= banded["conformal_upper"].to_numpy(float))).astype(float),
    })
    work.loc[banded["yhat_lower"].isna().to_numpy(), "cov"] = np.nan
    work.loc[banded["conformal_lower"].isna().to_numpy(), "ccov"] = np.nan
    g = work.groupby(["level", "model", "series_id"], sort=False)
    agg = g.agg(n=("ae", "size"), mae=("ae", "mean"), mse=("se", "mean"), ysum=("y", "sum"),
                bias=("err", "mean"), errsum=("err", "sum"), pin=("pin", "mean"),
                y2sum=("y2", "sum"), sse=("se", "sum"), smape=("sm", "mean"),
                coverage80=("cov", "mean"), coverage80_conformal=("ccov", "mean")).reset_index()
    sst = agg["y2sum"] - agg["ysum"] ** 2 / agg["n"]
    agg["r2"] = np.where(sst > 1e-12, 1 - agg["sse"] / sst.where(sst > 1e-12, 1.0), np.nan)
    agg["rmse"] = np.sqrt(agg["mse"])
    scale = agg["series_id"].map(scales).astype(float)
    agg["mase"] = agg["mae"] / scale
    agg["spl"] = agg["pin"] / scale
    agg["bias_pct"] = np.where(agg["ysum"] > 0, 100 * agg["errsum"] / agg["ysum"].where(
        agg["ysum"] > 0, 1.0), np.nan)
    agg["intermittent"] = agg["series_id"].map(flags).fillna(False).astype(bool)
    agg.loc[agg["intermittent"], "smape"] = np.nan  # judged by MASE and SPL instead
    agg["n"] = agg["n"].astype(float)
    agg["scope"] = "series"
    return agg[["scope", "level", "series_id", "model", "intermittent", *METRICS]]


def choose_champions(board: pd.DataFrame, max_bias_pct: float = MAX_BIAS_PCT,
                     mase_tolerance: float = MASE_TOLERANCE) -> dict[str, str]:
    """Per level, the champion model on the level-scope rows (see module docstring)."""
    return {level: model for level, (model, _) in
            champion_decisions(board, max_bias_pct, mase_tolerance).items()}


def champion_decisions(board: pd.DataFrame, max_bias_pct: float = MAX_BIAS_PCT,
                       mase_tolerance: float = MASE_TOLERANCE) -> dict[str, tuple[str, str]]:
    """Per level, ``(champion, the sentence saying which metric chose it and why)``."""
    level_rows = board[board["scope"] == "level"]
    out = {}
    for level, grp in level_rows.groupby("level", sort=False):
        order = np.lexsort((grp["smape"].fillna(np.inf).to_numpy(),
                            grp["spl"].fillna(np.inf).to_numpy(),
                            grp["mase"].fillna(np.inf).to_numpy()))
        ranked = grp.iloc[order]
        best = ranked.iloc[0]
        unbiased = ranked[ranked["bias_pct"].abs() <= max_bias_pct]
        if not (abs(best["bias_pct"]) > max_bias_pct) or unbiased.empty:
            reason = f"lowest MASE ({best['mase']:.3f})"
            if len(ranked) > 1:
                reason += f", ahead of {ranked.iloc[1]['model']} ({ranked.iloc[1]['mase']:.3f})"
            reason += f"; bias {best['bias_pct']:+.1f}% of demand"
            if abs(best["bias_pct"]) > max_bias_pct:
                reason += f" (no candidate within {max_bias_pct:g}%)"
            out[level] = (best["model"], reason)
            continue
        alternative = unbiased.iloc[0]
        if alternative["mase"] <= (1 + mase_tolerance) * best["mase"]:
            out[level] = (alternative["model"], (
                f"lowest MASE ({alternative['mase']:.3f}) among models whose bias is within "
                f"{max_bias_pct:g}% of demand ({alternative['bias_pct']:+.1f}%); "
                f"{best['model']} had MASE {best['mase']:.3f} but bias "
                f"{best['bias_pct']:+.1f}%"))
        else:
            out[level] = (best["model"], (
                f"lowest MASE ({best['mase']:.3f}); its bias {best['bias_pct']:+.1f}% exceeds "
                f"{max_bias_pct:g}% but the best model within it ({alternative['model']}, "
                f"MASE {alternative['mase']:.3f}) is more than {100 * mase_tolerance:g}% worse"))
    return out
