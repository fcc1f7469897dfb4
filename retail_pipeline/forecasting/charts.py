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
                   path: Path | str, history_days: int = 120,
                   calendar: pd.DataFrame | None = None) -> Path:
    """Recent history, the champion's forecast and its 80% band, per series.

    ``calendar`` (``date, name``, e.g. ``forecast_calendar``): holidays and events inside the
    forecast horizon are marked with a dotted line and their name.
    """
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
            for day, name in _horizon_holidays(calendar, f["date"].min(), f["date"].max()):
                ax.axvline(day, color="C3", ls=":", lw=1)
                ax.text(day, 0.98, f" {name}", transform=ax.get_xaxis_transform(),
                        rotation=90, va="top", ha="left", fontsize=7, color="C3")
        ax.set(title=f"{sid}: forecast", xlabel="", ylabel="units")
        ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def _horizon_holidays(calendar: pd.DataFrame | None, first, last) -> list[tuple]:
    """``(date, names)`` of holidays and events between ``first`` and ``last``."""
    if calendar is None or calendar.empty:
        return []
    days = calendar.assign(date=pd.to_datetime(calendar["date"]))
    inside = days[(days["date"] >= first) & (days["date"] <= last)]
    return [(day, " / ".join(group["name"].astype(str)))
            for day, group in inside.groupby("date", sort=True)]


FEATURE_LABELS = {
    "mean_28": "average of the last 4 weeks",
    "mean_91": "average of the last 3 months",
    "mean_364": "average of the last year",
    "mean_364_prev": "average of the year before last",
    "lag_same_weekday": "latest known sales on the same weekday",
    "same_weekday_mean_4": "same weekday, mean of 4 weeks",
    "same_weekday_mean_8": "same weekday, mean of 8 weeks",
    "last_year": "sales on the same day last year",
    "last_year_mean_7": "last year, the week around the day",
    "last_year_mean_28": "last year, the 4 weeks around the day",
    "last_year_weekday_mean": "last year, same weekday nearby",
    "two_years_weekday_mean": "two years ago, same weekday nearby",
    "growth": "growth against the year before",
    "log_level": "size of the series (sales level)",
    "weekday_profile": "the series' usual weekday pattern",
    "month_profile": "the series' usual month pattern",
    "day_of_week": "day of the week",
    "day_of_year": "day of the year",
    "month": "month",
    "day_of_month": "day of the month",
    "holiday": "public holiday",
    "event": "user event (promotion, fair)",
    "days_to_christmas": "days until Christmas",
    "days_since_christmas": "days since Christmas",
    "days_to_black_friday": "days until Black Friday",
    "days_since_black_friday": "days since Black Friday",
    "days_to_easter": "days until Easter",
    "days_since_easter": "days since Easter",
}


def feature_label(name: str) -> str:
    """Plain-language name of an internal feature name (the name itself if unknown)."""
    return FEATURE_LABELS.get(name, name.replace("_", " "))


def importance_chart(importances: pd.DataFrame, path: Path | str, top: int = 12) -> Path:
    """The largest importances, one panel per model x cohort stacked vertically.

    Bars are labelled in plain words with the internal feature name in small grey print,
    and the figure is 900 px wide, so it reads at 100% zoom.
    """
    if importances.empty:
        return no_data_chart(path, "feature importances")
    groups = list(importances.groupby(["model", "cohort"], sort=False))
    heights = [0.8 + 0.32 * min(top, len(g)) for _, g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, sum(heights) + 0.3),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, ((model, cohort), g) in zip(axes[:, 0], groups, strict=True):
        g = g.sort_values("importance", ascending=False).head(top).reset_index(drop=True)
        ax.barh(range(len(g)), g["importance"], color="C0")
        ax.set_yticks(range(len(g)), [""] * len(g))
        ax.invert_yaxis()
        for i, name in enumerate(g["feature"]):
            ax.annotate(feature_label(name), (0, i), xytext=(-6, 2), textcoords="offset points",
                        ha="right", va="center", fontsize=10, annotation_clip=False,
                        xycoords=("axes fraction", "data"))
            ax.annotate(name, (0, i), xytext=(-6, -8), textcoords="offset points",
                        ha="right", va="center", fontsize=7, color="0.45",
                        annotation_clip=False, xycoords=("axes fraction", "data"))
        ax.set_title(f"{cohort.replace('level=', 'level: ')}  ({model})", fontsize=11, loc="left")
        ax.set_xlabel("share of importance", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.subplots_adjust(left=0.38, right=0.97, top=1 - 0.35 / (sum(heights) + 0.3),
                        bottom=0.45 / (sum(heights) + 0.3), hspace=0.55)
    return _save(fig, path, tight=False)


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
    """Level-scope MASE and bias per model and level, with each champion and why it won.

    The left panel is the champion criterion (MASE, lower is better); the right one the bias
    as a share of demand with the allowed band (10%) shaded; below, one line per level names
    the champion and the rule that chose it (``chosen_by``).
    """
    rows = board[board["scope"] == "level"]
    if rows.empty:
        return no_data_chart(path, "forecast leaderboard")
    has_bias = "bias_pct" in rows and rows["bias_pct"].notna().any()
    champions = rows[rows["champion"].astype(bool)]
    lines = []
    for r in champions.itertuples():
        reason = getattr(r, "chosen_by", None)
        lines.append(f"{r.level}: {r.model} - chosen by {reason if isinstance(reason, str) and reason else 'lowest MASE'}")
    n_levels = rows["level"].nunique()
    text_h = 0.28 * (len(lines) + 1)
    fig, axes = plt.subplots(1, 2 if has_bias else 1, squeeze=False,
                             figsize=(12, 2.2 + 0.55 * n_levels + text_h))
    sns.barplot(data=rows, x="mase", y="level", hue="model", ax=axes[0, 0])
    axes[0, 0].set(title="backtest MASE: the champion criterion (lower is better)", ylabel="")
    if has_bias:
        ax = axes[0, 1]
        sns.barplot(data=rows, x="bias_pct", y="level", hue="model", ax=ax, legend=False)
        ax.axvspan(-10, 10, color="0.9", zorder=0)
        ax.axvline(0, color="black", lw=0.8)
        ax.set(title="backtest bias, % of demand (within the grey band: allowed)",
               ylabel="", xlabel="bias_pct (+ = over-forecast)")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, "Champions (per level):\n" + "\n".join(lines), fontsize=9,
             va="bottom", wrap=True)
    fig.tight_layout(rect=(0, text_h / (2.2 + 0.55 * n_levels + text_h), 1, 1))
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


def forecast_overview(panel: pd.DataFrame, forecast: pd.DataFrame, *rest) -> Path:
    """History, forecast and interval of the total and the largest series.

    Called as ``(panel, forecast, path)`` or ``(panel, forecast, calendar, path)``; with the
    ``forecast_calendar`` frame the horizon's holidays and events are marked.
    """
    calendar, path = (None, rest[0]) if len(rest) == 1 else rest
    return forecast_chart(panel, forecast, _shown(panel, forecast), path, calendar=calendar)


def _shown(panel: pd.DataFrame, forecast: pd.DataFrame) -> list[str]:
    """The top series that have a forecast of their own (a coinciding series has none)."""
    have = set(forecast["series_id"]) if len(forecast) else set()
    return [s for s in top_series(panel, TOP_SERIES + 2) if not have or s in have][:TOP_SERIES]


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
