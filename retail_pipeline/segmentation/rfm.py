"""RFM: recency, frequency and monetary scores 1-5 by quintile, the code and a named segment.

Scores. Customers are ranked on each measure and the ranking is cut into five groups of
(nearly) equal size: with ``n`` customers, the customer at 0-based position ``i`` of the
ranking gets score ``floor(5 * i / n) + 1``. Position is by value, and ties are broken
deterministically by ``customer_id`` (ascending), so equal values can fall into adjacent
quintiles but always the same way for the same data. Higher is better on every score:

- ``r_score``: ranked by ``recency_days`` descending (the most recent buyers score 5);
- ``f_score``: ranked by ``frequency`` ascending (the most frequent score 5);
- ``m_score``: ranked by ``monetary`` (net spend) ascending (the biggest spenders score 5).

``rfm_code`` is the three digits ``f"{r}{f}{m}"`` (for example ``"545"``), ``rfm_score``
their sum (3-15).

Named segments. The segment is read from the recency and frequency scores (the
R x F grid of the RFM chart; the monetary score refines the code but not the name):

=========  ======================  ======================  ======================  ======================  ======================
R \\ F      F=1                     F=2                     F=3                     F=4                     F=5
=========  ======================  ======================  ======================  ======================  ======================
R=5        New                     Potential Loyalists     Potential Loyalists     Champions               Champions
R=4        Promising               Potential Loyalists     Potential Loyalists     Loyal                   Loyal
R=3        About to Sleep          About to Sleep          Need Attention          Loyal                   Loyal
R=2        Hibernating             Hibernating             At Risk                 At Risk                 Can't Lose
R=1        Hibernating             Hibernating             At Risk                 At Risk                 Can't Lose
=========  ======================  ======================  ======================  ======================  ======================

This is the widely used R x F segment map (``[1-2][1-2]`` Hibernating, ``[1-2][3-4]`` At
Risk, ``[1-2]5`` Can't Lose, ``3[1-2]`` About to Sleep, ``33`` Need Attention,
``[3-4][4-5]`` Loyal, ``41`` Promising, ``51`` New, ``[4-5][2-3]`` Potential Loyalists,
``5[4-5]`` Champions); every one of the 25 cells has exactly one name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS = ("Champions", "Loyal", "Potential Loyalists", "New", "Promising", "Need Attention",
            "About to Sleep", "At Risk", "Can't Lose", "Hibernating")


def segment_name(r: int, f: int) -> str:
    """The named segment of one (R, F) cell of the grid in the module docstring."""
    if not (1 <= r <= 5 and 1 <= f <= 5):
        raise ValueError(f"scores must be 1..5, got R={r}, F={f}")
    if r <= 2:
        return "Hibernating" if f <= 2 else ("At Risk" if f <= 4 else "Can't Lose")
    if r == 3:
        return "About to Sleep" if f <= 2 else ("Need Attention" if f == 3 else "Loyal")
    if f >= 4:
        return "Loyal" if r == 4 else "Champions"
    if f == 1:
        return "Promising" if r == 4 else "New"
    return "Potential Loyalists"


SEGMENT_MAP: dict[tuple[int, int], str] = {
    (r, f): segment_name(r, f) for r in range(1, 6) for f in range(1, 6)}


def quintile_scores(values: pd.Series, ids: pd.Series, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1-5: position in the ranking by value (ties by id), cut into five equal groups."""
    n = len(values)
    if n == 0:
        return np.array([], dtype="int64")
    key = values.to_numpy(dtype="float64")
    # lexsort: last key is primary. Ascending by value (descending when lower is better),
    # then ascending by id.
    order = np.lexsort((ids.astype("str").to_numpy(), key if higher_is_better else -key))
    position = np.empty(n, dtype="int64")
    position[order] = np.arange(n)
    return (position * 5 // n + 1).astype("int64")


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """customer_id, the three measures, the three scores, code, total and named segment."""
    ids = features["customer_id"].astype("str")
    out = pd.DataFrame({
        "customer_id": ids.to_numpy(),
        "recency_days": features["recency_days"].to_numpy(),
        "frequency": features["frequency"].to_numpy(),
        "monetary": features["monetary"].to_numpy(dtype="float64"),
    })
    out["r_score"] = quintile_scores(out["recency_days"], ids, higher_is_better=False)
    out["f_score"] = quintile_scores(out["frequency"], ids)
    out["m_score"] = quintile_scores(out["monetary"], ids)
    out["rfm_code"] = (out["r_score"].astype("str") + out["f_score"].astype("str")
                       + out["m_score"].astype("str"))
    out["rfm_score"] = out["r_score"] + out["f_score"] + out["m_score"]
    out["segment"] = [SEGMENT_MAP[(r, f)] for r, f in zip(out["r_score"], out["f_score"],
                                                           strict=True)]
    return out


def segment_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers, share and mean measures per named segment (for metadata and charts)."""
    if scores.empty:
        return pd.DataFrame(columns=["segment", "customers", "share", "recency_days",
                                     "frequency", "monetary"])
    grouped = scores.groupby("segment").agg(
        customers=("customer_id", "size"), recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"), monetary=("monetary", "mean")).reset_index()
    grouped["share"] = grouped["customers"] / grouped["customers"].sum()
    return grouped.sort_values("customers", ascending=False, ignore_index=True)[
        ["segment", "customers", "share", "recency_days", "frequency", "monetary"]]
