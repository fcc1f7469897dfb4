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
    """Monthly revenue over time (trend, seasonality, holidays) and revenue per weekday."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8))
    sns.lineplot(data=by_month, x="month_start", y="revenue", marker="o", ax=top)
    top.set(title="Revenue per month", xlabel="", ylabel="revenue")
    sns.barplot(data=by_weekday, x="weekday", y="revenue_per_day", ax=bottom,
                hue="weekday", palette="viridis", legend=False)
    bottom.set(title="Average revenue per calendar day, by weekday", xlabel="", ylabel="revenue per day")
    fig.tight_layout()
    return save_figure(fig, path)
