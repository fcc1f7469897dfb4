"""The budget recommendation step: fitted curves in, ``ml_budget_rec`` and curves out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.marketing.allocate import allocate, bounds_for, target_efficiency
from retail_pipeline.marketing.channels import channel_daily
from retail_pipeline.marketing.settings import BudgetSettings
from retail_pipeline.marketing.tables import (
    BUDGET_COLUMNS,
    CURVE_COLUMNS,
    budget_table,
    curves_from_table,
    response_curve_table,
)


@dataclass
class Recommendation:
    budget: pd.DataFrame
    curves: pd.DataFrame
    status: str
    metadata: dict = field(default_factory=dict)


def recent_conversions(spend: pd.DataFrame, period_days: int, recent_periods: int) -> pd.Series:
    """Average conversions per period and channel over the recent periods."""
    if spend.empty or "conversions" not in spend or spend["conversions"].isna().all():
        return pd.Series(dtype="float64")
    daily = channel_daily(spend)
    recent = daily[daily["date"] > daily["date"].max() - pd.Timedelta(days=period_days * recent_periods)]
    return recent.groupby("channel")["conversions"].sum(min_count=1) / recent_periods


def recommend(roi_forecast: pd.DataFrame, roi_timeseries: pd.DataFrame, spend: pd.DataFrame,
              plan: BudgetSettings | None = None,
              amounts: dict[str, tuple[float, float]] | None = None) -> Recommendation:
    """Allocate the budget (or find the target-ROAS budget) on the fitted curves.

    Raises ``ValueError`` with the reason when the total is outside the bounds' sums.
    """
    plan = plan or BudgetSettings()
    if roi_forecast.empty:
        return Recommendation(pd.DataFrame(columns=BUDGET_COLUMNS),
                              pd.DataFrame(columns=CURVE_COLUMNS),
                              "skipped: no fitted media-mix model yet")
    curves = curves_from_table(roi_forecast)
    channels = [c.channel for c in curves]
    current = roi_forecast["current_budget"].to_numpy("float64")
    lower, upper = bounds_for(current, plan.lower_multiple, plan.upper_multiple, amounts, channels)
    if plan.target_roas > 0:
        result = target_efficiency(curves, plan.target_roas, current, lower, upper,
                                   n_starts=plan.n_starts, seed=plan.seed)
        if result.allocation is None:
            return Recommendation(pd.DataFrame(columns=BUDGET_COLUMNS),
                                  response_curve_table(curves, current, current, upper),
                                  f"target ROAS {plan.target_roas:g}: {result.note}")
        alloc, mode = result.allocation, f"target_roas={plan.target_roas:g}"
        alloc.notes.insert(0, result.note[0].upper() + result.note[1:] + ".")
    else:
        total = plan.total_budget or float(roi_forecast["last_period_spend"].sum())
        alloc = allocate(curves, total, current, lower, upper, n_starts=plan.n_starts,
                         seed=plan.seed)
        mode = "max_revenue"
    period_days = int(roi_forecast["period_days"].iloc[0])  # the period the model planned for
    conversions = recent_conversions(spend, period_days, plan.recent_periods)
    budget = budget_table(alloc, roi_timeseries, conversions, mode)
    curve_frame = response_curve_table(curves, current, alloc.recommended, upper)
    binding = {c: b for c, b in zip(channels, alloc.binding(), strict=True) if b}
    gain = float(alloc.response.sum() - alloc.current_response.sum())
    status = (f"{mode}: total {alloc.total:,.2f}; " + ("unchanged split; " if alloc.same_as_current
                                                       else "") +
              f"expected revenue {alloc.response.sum():,.2f} ({gain:+,.2f} vs current)")
    return Recommendation(budget, curve_frame, status, {
        "method": alloc.method, "same_as_current": alloc.same_as_current,
        "binding_bounds": ", ".join(f"{c}: {b}" for c, b in binding.items()) or "none",
        "expected_gain": gain, "total_budget": float(alloc.total),
        "notes": " ".join(alloc.notes), "roas": float(alloc.response.sum() / alloc.total)
        if alloc.total > 0 else float(np.nan)})
