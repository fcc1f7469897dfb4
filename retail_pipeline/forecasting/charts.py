"""Seaborn PNG charts of the forecasting outputs.

Every function takes frames and an output path, writes one PNG and returns the path, so
assets can attach it to their metadata and tests can check the file. The Agg backend is
selected at import: charts are rendered in worker processes without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from retail_pipeline.platform.charts import save_figure  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")


def top_series(panel: pd.DataFrame, n: int = 4, level: str = "shop_product") -> list[str]:
    """``total`` plus the ``n - 1`` largest series of ``level`` by volume."""
    part = panel[panel["level"] == level]
    top = part.groupby("series_id")["y"].sum().sort_values(ascending=False).index[: n - 1]
    return (["total"] if (panel["series_id"] == "total").any() else []) + list(top)


def _save(fig, path: Path | str, tight: bool = True) -> Path:
    if tight:
        fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def no_data_chart(path: Path | str, title: str) -> Path:
    """A small PNG that says there is nothing to draw yet (e.g. before the first upload)."""
    fig, ax = plt.subplots(figsize=(8, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{title}\nno data yet", ha="center", va="center", fontsize=13)
    return _save(fig, path)


def _grid(n: int, height: float = 2.6):
    fig, axes = plt.subplots(n, 1, figsize=(11, height * max(n, 1)), squeeze=False)
    return fig, axes[:, 0]


def history_chart(panel: pd.DataFrame, series_ids: Sequence[str], path: Path | str,
                  last_days: int = 365) -> Path:
    """Daily sales and their 7-day mean over the last ``last_days`` days, per series."""
    if not len(series_ids) or panel.empty:
        return no_data_chart(path, "sales history")
    fig, axes = _grid(len(series_ids))
    for ax, sid in zip(axes, series_ids, strict=True):
        s = panel[panel["series_id"] == sid].sort_values("ds")
        s = s[s["ds"] > s["ds"].max() - pd.Timedelta(days=last_days)]
        sns.lineplot(x=s["ds"], y=s["y"], ax=ax, lw=0.6, color="0.6", label="daily")
        sns.lineplot(x=s["ds"], y=s["y"].rolling(7, min_periods=1).mean(), ax=ax,
                     color="C0", label="7-day mean")
        ax.set(title=f"{sid}: sales history", xlabel="", ylabel="units")
    return _save(fig, path)


def backtest_chart(errors: pd.DataFrame, series_ids: Sequence[str], path: Path | str,
                   models: Sequence[str] | None = None) -> Path:
    """Backtest actuals against each model's predictions, per series, all folds."""
    if not len(series_ids) or errors.empty:
        return no_data_chart(path, "backtest")
    fig, axes = _grid(len(series_ids))
    for ax, sid in zip(axes, series_ids, strict=True):
        e = errors[errors["series_id"] == sid]
        if models is not None:
            e = e[e["model"].isin(models)]
        actual = e.drop_duplicates("ds").sort_values("ds")
        sns.lineplot(x=actual["ds"], y=actual["y"], ax=ax, color="black", lw=1.2,
                     label="actual")
        for i, (model, m) in enumerate(e.groupby("model", sort=True)):
            for fold, f in m.groupby("fold"):
                ax.plot(f["ds"], f["yhat"], color=f"C{i}", lw=1,
                        label=model if fold == m["fold"].min() else None)
        ax.set(title=f"{sid}: backtest (each fold forecast from its origin)", xlabel="",
               ylabel="units")
        ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def forecast_chart(panel: pd.DataFrame, forecast: pd.DataFrame, series_ids: Sequence[str],
                   path: Path | str, history_days: int = 120) -> Path:
    """Recent history, the champion's forecast and its 80% band, per series."""
    if not len(series_ids) or panel.empty:
        return no_data_chart(path, "sales forecast")
    fig, axes = _grid(len(series_ids))
    for ax, sid in zip(axes, series_ids, strict=True):
        s = panel[panel["series_id"] == sid].sort_values("ds")
        s = s[s["ds"] > s["ds"].max() - pd.Timedelta(days=history_days)]
        f = forecast[forecast["series_id"] == sid].sort_values("date")
        sns.lineplot(x=s["ds"], y=s["y"], ax=ax, color="black", lw=1, label="history")
        if not f.empty:
            ax.fill_between(f["date"], f["yhat_lower"], f["yhat_upper"], color="C1",
                            alpha=0.25, label="80% interval")
            sns.lineplot(x=f["date"], y=f["yhat"], ax=ax, color="C1",
                         label=f"forecast ({f['model'].iloc[0]})")
        ax.set(title=f"{sid}: forecast", xlabel="", ylabel="units")
        ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def importance_chart(importances: pd.DataFrame, path: Path | str, top: int = 15) -> Path:
    """Horizontal bars of the largest importances, one panel per model x cohort."""
    if importances.empty:
        return no_data_chart(path, "feature importances")
    groups = list(importances.groupby(["model", "cohort"], sort=False))
    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(6 * max(len(groups), 1), 5),
                             squeeze=False)
    for ax, ((model, cohort), g) in zip(axes[0], groups, strict=False):
        g = g.sort_values("importance", ascending=False).head(top)
        sns.barplot(data=g, x="importance", y="feature", ax=ax, color="C0")
        ax.set(title=f"{model} - {cohort}", xlabel="importance", ylabel="")
    return _save(fig, path)


def decomposition_chart(decomposition: pd.DataFrame, series_id: str, path: Path | str,
                        last_days: int = 365) -> Path:
    """Observed, trend, seasonal and residual panels for one series."""
    d = decomposition[decomposition["series_id"] == series_id].sort_values("ds")
    if d.empty:
        return no_data_chart(path, f"{series_id}: decomposition")
    d = d[d["ds"] > d["ds"].max() - pd.Timedelta(days=last_days)]
    fig, axes = _grid(4, height=2.0)
    for ax, part in zip(axes, ("observed", "trend", "seasonal", "resid"), strict=True):
        sns.lineplot(x=d["ds"], y=d[part], ax=ax, lw=0.8)
        ax.set(ylabel=part, xlabel="")
    axes[0].set_title(f"{series_id}: STL decomposition (weekly period)")
    return _save(fig, path)


def leaderboard_chart(board: pd.DataFrame, path: Path | str) -> Path:
    """Level-scope MASE and sMAPE per model and level; the champions are named below."""
    rows = board[board["scope"] == "level"]
    if rows.empty:
        return no_data_chart(path, "forecast leaderboard")
    fig, axes = plt.subplots(1, 2, figsize=(12, 3 + 0.5 * rows["level"].nunique()))
    for ax, metric in zip(axes, ("mase", "smape"), strict=True):
        sns.barplot(data=rows, x=metric, y="level", hue="model", ax=ax)
        ax.set(title=f"backtest {metric.upper()} (lower is better)", ylabel="")
    champions = ", ".join(f"{r.level}: {r.model}" for r in rows[rows["champion"]].itertuples())
    fig.text(0.01, 0.01, f"champions - {champions}", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path, tight=False)


# -- the charts the assets draw: frames in, PNG path out --------------------------------
TOP_SERIES = 4


def history_overview(panel: pd.DataFrame, path: Path | str) -> Path:
    """Sales history of the total and the largest shop x product series."""
    return history_chart(panel, top_series(panel, TOP_SERIES), path)


def backtest_overview(errors: pd.DataFrame, panel: pd.DataFrame, path: Path | str) -> Path:
    """Backtest of every model for the total and the largest series that were backtested."""
    backtested = set(errors["series_id"]) if len(errors) else set()
    series = [s for s in top_series(panel, TOP_SERIES) if s in backtested]
    return backtest_chart(errors, series, path)


def forecast_overview(panel: pd.DataFrame, forecast: pd.DataFrame, path: Path | str) -> Path:
    """History, forecast and interval of the total and the largest series."""
    return forecast_chart(panel, forecast, top_series(panel, TOP_SERIES), path)


def total_decomposition_chart(decomposition: pd.DataFrame, path: Path | str) -> Path:
    """The STL decomposition of the total series."""
    return decomposition_chart(decomposition, "total", path)


def accuracy_chart(accuracy: pd.DataFrame, path: Path | str) -> Path:
    """MAE and interval coverage of past forecasts by age of the forecast, per level."""
    if accuracy.empty:
        return no_data_chart(path, "forecast accuracy (no forecast has come due yet)")
    order = [b for b in ("1-7 days", "8-14 days", "15-30 days", "31+ days")
             if b in set(accuracy["age_bucket"])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    sns.barplot(data=accuracy, x="age_bucket", y="mae", hue="level", order=order, ax=left)
    left.set(title="MAE of past forecasts, by age", xlabel="days ahead", ylabel="MAE (units)")
    sns.barplot(data=accuracy, x="age_bucket", y="coverage", hue="level", order=order, ax=right)
    right.axhline(0.8, color="black", ls="--", lw=1, label="target 80%")
    right.set(title="Interval coverage of past forecasts", xlabel="days ahead",
              ylabel="share inside the interval", ylim=(0, 1))
    right.legend(fontsize=8)
    return _save(fig, path)
