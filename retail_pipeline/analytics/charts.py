"""Analytics charts (seaborn PNGs): category performance and temporal patterns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retail_pipeline.platform.charts import plt, save_figure, sns


def category_performance_chart(by_category: pd.DataFrame, path: Path | str) -> Path:
    """Revenue and units per category, side by side, largest revenue first."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    order = by_category.sort_values("revenue", ascending=False)["category"]
    sns.barplot(data=by_category, y="category", x="revenue", order=order, ax=left,
                hue="category", palette="crest", legend=False)
    left.set(title="Revenue by category", xlabel="revenue", ylabel="")
    sns.barplot(data=by_category, y="category", x="units", order=order, ax=right,
                hue="category", palette="flare", legend=False)
    right.set(title="Units sold by category", xlabel="units", ylabel="")
    fig.suptitle("Category performance")
    return save_figure(fig, path)


def temporal_patterns_chart(by_month: pd.DataFrame, by_weekday: pd.DataFrame, path: Path | str) -> Path:
    """Monthly revenue over time (a partial month marked) and revenue per open calendar day."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8))
    sns.lineplot(data=by_month, x="month_start", y="revenue", marker="o", ax=top)
    if "partial" in by_month:
        for row in by_month[by_month["partial"].astype(bool)].itertuples():
            top.plot([row.month_start], [row.revenue], marker="o", ms=11, mfc="white",
                     mec="C3", mew=2, ls="")
            top.annotate(f"partial month: {row.days_covered} of {row.days_in_month} days",
                         (row.month_start, row.revenue), xytext=(0, 12),
                         textcoords="offset points", ha="center", fontsize=9, color="C3")
    top.set(title="Revenue per month (a hollow red dot is a month the data covers only in part)",
            xlabel="", ylabel="revenue")
    sns.barplot(data=by_weekday, x="weekday", y="revenue_per_day", ax=bottom,
                hue="weekday", palette="viridis", legend=False)
    bottom.set(title="Average revenue per calendar day the shops were open (every day from the "
                     "first to the last sale counts; closed days as 0), by weekday",
               xlabel="", ylabel="revenue per day")
    fig.tight_layout()
    return save_figure(fig, path)
