"""Analytics charts drawn with seaborn into PNG files.

Matplotlib's non-interactive Agg backend is forced so charts render in worker processes
and on servers without a display. Every function takes tidy frames and a path, writes the
PNG atomically (temp file, then rename) and returns the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")


def save_figure(fig: plt.Figure, path: Path | str, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as PNG without ever leaving a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


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
