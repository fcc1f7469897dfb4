"""Seaborn charts of the marketing tables; each ``draw(*frames, path) -> path``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from retail_pipeline.platform.charts import save_figure


def _empty(path: Path, title: str, message: str) -> Path:
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return save_figure(fig, path)


def roi_forecast(frame: pd.DataFrame, path: Path) -> Path:
    """Bars of the forecast ROI per channel with the bootstrap interval."""
    title = "ROI forecast by channel (next period, current budget)"
    if frame.empty:
        return _empty(path, title, "no marketing spend uploaded yet")
    data = frame.sort_values("roi_forecast", ascending=False)
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.barplot(data=data, x="channel", y="roi_forecast", color="#4c72b0", ax=ax)
    ax.errorbar(range(len(data)), data["roi_forecast"],
                yerr=[data["roi_forecast"] - data["roi_lower"], data["roi_upper"] - data["roi_forecast"]],
                fmt="none", ecolor="black", capsize=4)
    ax.scatter(range(len(data)), data["marginal_roi"], marker="D", color="#dd8452", zorder=3,
               label="marginal ROI")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set(title=title, ylabel="revenue per unit spent")
    ax.legend()
    return save_figure(fig, path)


def _actual_vs_pred(frame: pd.DataFrame, metrics: dict[str, str], title: str, path: Path) -> Path:
    if frame.empty:
        return _empty(path, title, "no channel time series yet")
    channels = sorted(frame["channel"].unique())
    fig, axes = plt.subplots(len(metrics), len(channels), figsize=(3.2 * len(channels), 2.8 * len(metrics)),
                             squeeze=False, sharex=True)
    for i, (metric, label) in enumerate(metrics.items()):
        for j, channel in enumerate(channels):
            ax = axes[i][j]
            part = frame[frame["channel"] == channel].sort_values("date")
            if part[[f"{metric}_actual", f"{metric}_pred"]].isna().all().all():
                ax.text(0.5, 0.5, "not reported", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(f"{channel}: {label}", fontsize=9)
                ax.set_yticks([])
                continue
            ax.plot(part["date"], part[f"{metric}_actual"], color="black", lw=1, label="actual")
            ax.plot(part["date"], part[f"{metric}_pred"], color="#4c72b0", lw=1, label="predicted")
            ax.fill_between(part["date"], part[f"{metric}_lower"], part[f"{metric}_upper"],
                            color="#4c72b0", alpha=0.2)
            ax.set_title(f"{channel}: {label}", fontsize=9)
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path)


def roi_timeseries(frame: pd.DataFrame, path: Path) -> Path:
    return _actual_vs_pred(frame, {"roi": "ROI", "conversion": "conversion rate"},
                           "ROI and conversion rate, actual vs predicted", path)


def reach_ctr_timeseries(frame: pd.DataFrame, path: Path) -> Path:
    return _actual_vs_pred(frame, {"reach": "reach", "ctr": "CTR"},
                           "Reach and CTR, actual vs predicted", path)


def budget(frame: pd.DataFrame, path: Path) -> Path:
    """A pie of the recommended split and bars of current against recommended."""
    title = "Budget recommendation"
    if frame.empty:
        return _empty(path, title, "no budget recommendation yet")
    fig, (pie, bars) = plt.subplots(1, 2, figsize=(12, 4.5))
    shown = frame[frame["recommended_budget"] > 0]
    pie.pie(shown["recommended_budget"], labels=shown["channel"], autopct="%1.0f%%")
    pie.set_title(f"Recommended split of {frame['total_budget'].iloc[0]:,.0f}")
    long = frame.melt(id_vars="channel", value_vars=["current_budget", "recommended_budget"],
                      var_name="budget", value_name="amount")
    sns.barplot(data=long, x="channel", y="amount", hue="budget", ax=bars)
    for k, r in enumerate(frame.itertuples()):
        if r.bound_binding:
            bars.annotate(f"{r.bound_binding} bound", (k, r.recommended_budget), ha="center",
                          va="bottom", fontsize=8)
    bars.set_title("Current vs recommended budget per channel")
    return save_figure(fig, path)


def response_curves(frame: pd.DataFrame, path: Path) -> Path:
    title = "Response curves (expected revenue per period vs budget)"
    if frame.empty:
        return _empty(path, title, "no fitted response curves yet")
    channels = sorted(frame["channel"].unique())
    fig, axes = plt.subplots(1, len(channels), figsize=(3.4 * len(channels), 3.4), squeeze=False)
    for ax, channel in zip(axes[0], channels, strict=True):
        part = frame[frame["channel"] == channel].sort_values("spend")
        ax.plot(part["spend"], part["expected_response"], color="#4c72b0")
        for column, color, label in (("current_budget", "black", "current"),
                                     ("recommended_budget", "#c44e52", "recommended")):
            x = part[column].iloc[0]
            y = part.loc[(part["spend"] - x).abs().idxmin(), "expected_response"]
            ax.scatter([x], [y], color=color, zorder=3, label=label)
        ax.set_title(channel, fontsize=10)
        ax.set_xlabel("budget per period")
    axes[0][0].set_ylabel("expected revenue")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, y=1.04)
    return save_figure(fig, path)


def contributions(frame: pd.DataFrame, path: Path) -> Path:
    """Baseline and channels stacked over time (weekly sums of daily rows)."""
    title = "Contributions to revenue over time"
    if frame.empty:
        return _empty(path, title, "no media-mix model fitted yet")
    wide = frame.pivot_table(index="date", columns="channel", values="contribution", aggfunc="sum")
    if len(wide) > 200:  # weekly sums of whole weeks (a partial first or last week would dip)
        days = wide.resample("W").size()
        wide = wide.resample("W").sum()[days == 7]
    order = ["baseline", *[c for c in wide.columns if c != "baseline"]]
    wide = wide[order].clip(lower=0)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    colors = sns.color_palette("tab10", len(order))
    ax.stackplot(wide.index, wide.T.to_numpy(), labels=order, colors=colors, alpha=0.85)
    ax.set(title=title, ylabel="revenue")
    ax.legend(loc="upper left", fontsize=8, ncol=len(order))
    return save_figure(fig, path)
