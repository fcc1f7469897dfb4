"""The inventory pictures (seaborn PNGs); each is ``draw(*inputs, path) -> Path``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from retail_pipeline.inventory.policy import project_stock
from retail_pipeline.platform.charts import save_figure

CLASS_COLOURS = {"A": "#c0392b", "B": "#e67e22", "C": "#2980b9"}


def _empty(path: Path | str, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(8, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{title}\nno data yet", ha="center", va="center", fontsize=13)
    return save_figure(fig, path)


def below_reorder_point(report: pd.DataFrame, path: Path | str) -> Path:
    """Pairs at or below their reorder point: days of cover against lead time, by class."""
    title = "Products at or below their reorder point"
    due = report[report["reorder_now"]] if len(report) else report
    if due.empty:
        return _empty(path, title)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    sns.scatterplot(data=due.fillna({"days_of_cover": 0.0}), x="lead_time_days", y="days_of_cover",
                    hue="abc_class", hue_order=list(CLASS_COLOURS), palette=CLASS_COLOURS,
                    size="order_value", sizes=(20, 220), alpha=0.75, ax=ax)
    top = float(max(due["lead_time_days"].max(), 1.0))
    ax.plot([0, top], [0, top], ls="--", color="grey", lw=1)
    ax.text(top, top, " cover = lead time", va="bottom", ha="right", color="grey")
    ax.set(xlabel="lead time (days)", ylabel="days of cover (on hand / mean daily demand)",
           title=f"{title}: {len(due)} shop x product pairs (below the line: runs out before "
                 "an order placed today arrives)")
    return save_figure(fig, path)


def projected_stock(report: pd.DataFrame, supply: pd.DataFrame, sales_forecast: pd.DataFrame,
                    path: Path | str, top: int = 4) -> Path:
    """On hand over the horizon for the top items by order value, with the forecast,
    the reorder point and the planned arrivals."""
    title = "Projected stock of the top items"
    horizon = int(sales_forecast["date"].nunique()) if len(sales_forecast) else 0
    if report.empty or horizon == 0:
        return _empty(path, title)
    chosen = report.sort_values(["order_value", "mean_daily_demand"], ascending=False).head(top)
    # long enough to see today's orders arrive (beyond the forecast: its mean day continues)
    days = max(horizon, int(np.ceil(chosen["lead_time_days"].max()
                                    + chosen["review_period_days"].max())) + 7)
    _, projection = project_stock(chosen.reset_index(drop=True), supply, sales_forecast, days)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(11, 2.8 * len(chosen)), squeeze=False)
    for ax, row in zip(axes[:, 0], chosen.itertuples(), strict=True):
        part = projection[(projection["shop_id"] == row.shop_id)
                          & (projection["product_id"] == row.product_id)]
        ax.plot(part["date"], part["on_hand"], color="#2c3e50", label="on hand (projected)")
        ax.plot(part["date"], part["forecast"], color="#8e44ad", lw=1, label="forecast units/day")
        ax.axhline(row.reorder_point, color="#c0392b", ls="--", lw=1, label="reorder point")
        arrived = part[part["arrivals"] > 0]
        ax.bar(arrived["date"], arrived["arrivals"], width=0.8, color="#27ae60", alpha=0.6,
               label="planned arrivals")
        ax.set_title(f"shop {row.shop_id}, product {row.product_id} (class {row.abc_class})",
                     fontsize=10)
        ax.set_ylabel("units")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    axes[0, 0].legend(loc="upper right", fontsize=8, ncols=4)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def budget_by_week(budget: pd.DataFrame, path: Path | str) -> Path:
    """Purchase cost per week, stacked by category."""
    title = "Purchase budget by week and category"
    if budget.empty:
        return _empty(path, title)
    wide = (budget.groupby([budget["week"].dt.strftime("%Y-%m-%d"), "category"])["cost"].sum()
            .unstack(fill_value=0.0).sort_index())
    fig, ax = plt.subplots(figsize=(10, 5))
    bottom = np.zeros(len(wide))
    colours = sns.color_palette("tab10", len(wide.columns))
    for colour, category in zip(colours, wide.columns, strict=True):
        ax.bar(wide.index, wide[category], bottom=bottom, label=category, color=colour)
        bottom += wide[category].to_numpy()
    ax.set(xlabel="week starting", ylabel="order cost", title=title)
    ax.legend(fontsize=8, ncols=2)
    return save_figure(fig, path)


def service_by_class(simulation: pd.DataFrame, path: Path | str) -> Path:
    """Achieved cycle service level per class and policy against the target."""
    title = "Achieved against target cycle service level (policy replay)"
    if simulation.empty:
        return _empty(path, title)
    fig, ax = plt.subplots(figsize=(9, 5))
    sns.barplot(data=simulation, x="abc_class", y="cycle_service_level", hue="policy",
                order=sorted(simulation["abc_class"].unique()), ax=ax)
    targets = simulation.drop_duplicates("abc_class").sort_values("abc_class")
    ax.scatter(range(len(targets)), targets["target_service_level"], marker="_", s=2000,
               color="black", zorder=5, label="target")
    low = float(np.nanmin(simulation["cycle_service_level"].to_numpy()))
    ax.set(ylim=(max(0.0, min(low, targets["target_service_level"].min()) - 0.05), 1.0),
           xlabel="class", ylabel="cycle service level", title=title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
