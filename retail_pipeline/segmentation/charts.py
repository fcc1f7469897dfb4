"""Seaborn charts of the segmentation and value tables: ``draw(*tables, path) -> Path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from retail_pipeline.platform.charts import save_figure
from retail_pipeline.segmentation.profiles import segment_overview
from retail_pipeline.segmentation.rfm import SEGMENT_MAP

MAX_HEATMAP_FEATURES = 24


def _names(profiles: pd.DataFrame) -> dict[int, str]:
    overview = segment_overview(profiles)
    return {int(r.segment_id): f"{int(r.segment_id)}: {r.segment_name} ({r.size})"
            for r in overview.itertuples()}


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def segment_map(customer_segments: pd.DataFrame, segment_profiles: pd.DataFrame,
                path: Path) -> Path:
    """Customers on the first two principal components, coloured by segment, centres marked."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(10, 7))
    if customer_segments.empty:
        _empty(ax, "no customers segmented yet")
        return save_figure(fig, path)
    names = _names(segment_profiles)
    frame = customer_segments.assign(segment=customer_segments["segment_id"].map(
        lambda s: names.get(int(s), str(s))))
    order = [names[s] for s in sorted(names)]
    palette = dict(zip(order, sns.color_palette("tab10", len(order)), strict=False))
    sns.scatterplot(data=frame, x="pc1", y="pc2", hue="segment", hue_order=order,
                    palette=palette, s=14, alpha=0.6, linewidth=0, ax=ax)
    centres = frame.groupby("segment")[["pc1", "pc2"]].mean()
    for name, row in centres.iterrows():
        ax.scatter(row["pc1"], row["pc2"], marker="X", s=220, color=palette.get(name, "black"),
                   edgecolor="black", linewidth=1.2, zorder=5)
    ax.set(title="Customer segments (2-D PCA projection of the clustered features; X = centre)",
           xlabel="first principal component", ylabel="second principal component")
    ax.legend(title="segment", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return save_figure(fig, path)


def profile_heatmap(segment_profiles: pd.DataFrame, path: Path) -> Path:
    """z-scores of the most distinctive features by segment."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if segment_profiles.empty:
        fig, ax = plt.subplots(figsize=(8, 4))
        _empty(ax, "no segment profiles yet")
        return save_figure(fig, path)
    names = _names(segment_profiles)
    table = segment_profiles.pivot_table(index="feature", columns="segment_id", values="z_score")
    spread = table.abs().max(axis=1).sort_values(ascending=False, kind="stable")
    table = table.loc[spread.index[:MAX_HEATMAP_FEATURES]]
    table.columns = [names.get(int(c), str(c)) for c in table.columns]
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * table.shape[1], 0.9 + 0.38 * len(table)))
    limit = max(1.0, float(np.nanmax(np.abs(table.to_numpy()))))
    sns.heatmap(table, cmap="vlag", center=0, vmin=-limit, vmax=limit, annot=True, fmt=".1f",
                linewidths=0.5, cbar_kws={"label": "z-score vs all customers"}, ax=ax)
    ax.set(title="Segment profiles: how far each segment's mean is from the overall mean",
           xlabel="", ylabel="")
    ax.tick_params(axis="x", labelrotation=20)
    return save_figure(fig, path)


def rfm_grid(rfm_scores: pd.DataFrame, path: Path) -> Path:
    """Customers per recency x frequency score cell, each cell labelled with its segment."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    counts = (rfm_scores.groupby(["r_score", "f_score"]).size()
              .reindex(pd.MultiIndex.from_product([range(5, 0, -1), range(1, 6)],
                                                  names=["r_score", "f_score"]), fill_value=0)
              .unstack("f_score"))
    labels = np.array([[f"{SEGMENT_MAP[(r, f)]}\n{counts.loc[r, f]}" for f in counts.columns]
                       for r in counts.index])
    fig, ax = plt.subplots(figsize=(11, 7))
    sns.heatmap(counts, annot=labels, fmt="", cmap="Blues", linewidths=0.8,
                cbar_kws={"label": "customers"}, annot_kws={"fontsize": 8}, ax=ax)
    ax.set(title="RFM grid: customers by recency score (rows) and frequency score (columns)",
           xlabel="frequency score (5 = most purchase days)",
           ylabel="recency score (5 = most recent)")
    return save_figure(fig, path)


def silhouette_by_k(segment_k_selection: pd.DataFrame, path: Path) -> Path:
    """Silhouette of every k tried (``auto``), the chosen k highlighted, inadmissible k hatched."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(9, 5))
    if segment_k_selection.empty:
        _empty(ax, "no K-Means fit yet")
        return save_figure(fig, path)
    frame = segment_k_selection.assign(
        status=np.where(segment_k_selection["chosen"], "chosen",
                        np.where(segment_k_selection["admissible"], "admissible",
                                 "smallest segment too small")))
    sns.barplot(data=frame, x="k", y="silhouette", hue="status", dodge=False,
                palette={"chosen": "#2a9d8f", "admissible": "#a8dadc",
                         "smallest segment too small": "#e5e5e5"}, ax=ax)
    title = ("Silhouette by number of segments (auto)" if len(frame) > 1 else
             f"Silhouette of the configured k = {int(frame['k'].iloc[0])}")
    ax.set(title=title, xlabel="k", ylabel="silhouette (higher = better separated)")
    return save_figure(fig, path)


def value_distribution(customer_value: pd.DataFrame, path: Path) -> Path:
    """Distribution of the predicted 365-day spend (log scale) and of P(alive)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    if customer_value.empty:
        _empty(axes[0], "no customer value yet")
        _empty(axes[1], "")
        return save_figure(fig, path)
    spend = customer_value["spend_365d"].clip(lower=0.01)
    sns.histplot(spend, bins=40, log_scale=True, ax=axes[0], color="#457b9d")
    axes[0].axvline(float(spend.median()), color="black", linestyle="--",
                    label=f"median {spend.median():,.0f}")
    axes[0].legend()
    axes[0].set(title="Predicted spend in the next 365 days (BG/NBD x Gamma-Gamma)",
                xlabel="expected spend (log scale)", ylabel="customers")
    sns.histplot(customer_value["p_alive"], bins=20, binrange=(0, 1), ax=axes[1],
                 color="#e76f51")
    axes[1].set(title="Probability the customer is still active", xlabel="P(alive)",
                ylabel="customers")
    return save_figure(fig, path)


def holdout_calibration(customer_value_holdout: pd.DataFrame, path: Path) -> Path:
    """Mean actual vs predicted holdout purchases per calibration-frequency bucket."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(10, 5.5))
    if customer_value_holdout.empty:
        _empty(ax, "not enough history for a calibration / holdout split")
        return save_figure(fig, path)
    long = customer_value_holdout.melt(id_vars=["bucket"],
                                       value_vars=["actual", "predicted", "naive"],
                                       var_name="series", value_name="purchases")
    long["series"] = long["series"].map({"actual": "actual", "predicted": "BG/NBD",
                                         "naive": "naive (calibration rate)"})
    sns.barplot(data=long, x="bucket", y="purchases", hue="series",
                palette=["#264653", "#2a9d8f", "#e9c46a"], ax=ax)
    row = customer_value_holdout.iloc[0]
    ax.set(title=f"Holdout {row['holdout_start']} .. {row['holdout_end']}: mean purchase days "
                 f"per customer (MAE model {row['mae_model']:.2f}, naive {row['mae_naive']:.2f})",
           xlabel="repeat purchase days in the calibration period",
           ylabel="mean purchase days in the holdout")
    return save_figure(fig, path)
