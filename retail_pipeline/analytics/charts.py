"""Analytics charts (seaborn PNGs): category performance and temporal patterns.

Every chart shows NET figures (sales minus returns and cancellations, see
``retail_pipeline.analytics.kpis``); where the tables carry them, the gross and returned
parts are drawn beside.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retail_pipeline.platform.charts import plt, save_figure, sns


def category_performance_chart(by_category: pd.DataFrame, path: Path | str) -> Path:
    """Net revenue and net units per category, side by side, largest revenue first; the
    returned units are drawn as a red bar beside each category's net units."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    order = by_category.sort_values("revenue", ascending=False)["category"]
    sns.barplot(data=by_category, y="category", x="revenue", order=order, ax=left,
                hue="category", palette="crest", legend=False)
    left.set(title="Net revenue by category (after returns)", xlabel="net revenue", ylabel="")
    if "returned_units" in by_category:
        units = by_category.melt(id_vars="category", value_vars=["units", "returned_units"],
                                 var_name="kind", value_name="count")
        units["kind"] = units["kind"].map({"units": "net units sold", "returned_units": "units returned"})
        sns.barplot(data=units, y="category", x="count", order=order, hue="kind", ax=right,
                    palette={"net units sold": "C0", "units returned": "C3"})
        if len(units):
            right.legend(title="")
    else:
        sns.barplot(data=by_category, y="category", x="units", order=order, ax=right,
                    hue="category", palette="flare", legend=False)
    right.set(title="Units by category", xlabel="units", ylabel="")
    fig.suptitle("Category performance (net of returns and cancellations)")
    return save_figure(fig, path)


def temporal_patterns_chart(by_month: pd.DataFrame, by_weekday: pd.DataFrame, path: Path | str) -> Path:
    """Monthly net revenue over time and net revenue per calendar day, by weekday.

    The monthly line joins complete months only: a month the data covers in part (the
    ``complete`` flag of ``sales_by_month``) is drawn as a hollow red dot, unconnected and
    labelled with its days covered, so a partial last month never looks like a collapse in
    sales. Gross revenue (before returns) is the dashed line above.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8))
    complete = (by_month["complete"].astype(bool) if "complete" in by_month
                else ~by_month["partial"].astype(bool))
    whole = by_month[complete]
    top.plot(whole["month_start"], whole["revenue"], marker="o", color="C0", label="net revenue")
    if "gross_revenue" in by_month:
        top.plot(whole["month_start"], whole["gross_revenue"], ls="--", color="C7", label="gross revenue")
    for i, row in enumerate(by_month[~complete].itertuples()):
        top.plot([row.month_start], [row.revenue], marker="o", ms=11, mfc="white", mec="C3", mew=2,
                 ls="", label="partial month (not comparable)" if i == 0 else "_partial")
        top.annotate(f"{row.days_covered} of {row.days_in_month} days",
                     (row.month_start, row.revenue), xytext=(0, -16),
                     textcoords="offset points", ha="center", va="top", fontsize=9, color="C3")
    top.margins(y=0.15)
    top.set(title="Revenue per month, net of returns and cancellations", xlabel="", ylabel="revenue")
    top.legend(loc="best", fontsize=9)
    sns.barplot(data=by_weekday, x="weekday", y="revenue_per_day", ax=bottom,
                hue="weekday", palette="viridis", legend=False)
    bottom.set(title="Average net revenue per calendar day, by weekday (every day from the first "
                     "to the last sale counts, closed days as 0)",
               xlabel="", ylabel="revenue per day")
    fig.tight_layout()
    return save_figure(fig, path)
