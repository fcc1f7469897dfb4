"""Seasonal decomposition: trend, weekly pattern and what is left.

A buyer reading a forecast wants to know which part is the weekly rhythm, which part is
the slow drift and how noisy the rest is. STL (statsmodels, robust to outliers such as a
promotion day) splits each series additively into ``trend + seasonal + resid`` with a
weekly period. It runs on the total and the aggregated levels (shop, product), where the
series are smooth enough to read; shop x product series are too noisy for a
decomposition to say anything the aggregated ones do not. ``last_days`` limits each
series to its most recent days (two years by default) to keep the table and charts small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import STL

DECOMPOSITION_COLUMNS = ["level", "series_id", "shop_id", "product_id", "ds", "observed",
                         "trend", "seasonal", "resid"]


def seasonal_decomposition(panel: pd.DataFrame, *, levels=("total", "shop", "product"),
                           period: int = 7, last_days: int | None = 730,
                           max_series_per_level: int | None = 20) -> pd.DataFrame:
    """STL per series of the given levels (largest ``max_series_per_level`` per level)."""
    frames = []
    for level in levels:
        part = panel[panel["level"] == level]
        if part.empty:
            continue
        volume = part.groupby("series_id")["y"].sum().sort_values(ascending=False)
        chosen = volume.index[:max_series_per_level] if max_series_per_level else volume.index
        for series_id in chosen:
            s = part[part["series_id"] == series_id].sort_values("ds")
            if last_days is not None:
                s = s[s["ds"] > s["ds"].max() - pd.Timedelta(days=last_days)]
            if len(s) < 2 * period + 1:
                continue
            fit = STL(s["y"].to_numpy(dtype=float), period=period, robust=True).fit()
            frames.append(pd.DataFrame({
                "level": level, "series_id": series_id,
                "shop_id": s["shop_id"].to_numpy(), "product_id": s["product_id"].to_numpy(),
                "ds": s["ds"].to_numpy(), "observed": s["y"].to_numpy(dtype=float),
                "trend": np.asarray(fit.trend), "seasonal": np.asarray(fit.seasonal),
                "resid": np.asarray(fit.resid)}))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("observed", "trend", "seasonal",
                                                                "resid") else object)
                             for c in DECOMPOSITION_COLUMNS})
    return pd.concat(frames, ignore_index=True)[DECOMPOSITION_COLUMNS]
