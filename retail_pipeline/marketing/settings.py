"""The marketing knobs, light enough to import when the code location loads.

Each dataclass is the single definition of its step's settings; the launchpad configs in
``defs/marketing`` are generated from the documented fields (``metadata["doc"]``).
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_pipeline.platform.knobs import documented as _doc

# the daily_sales columns ``tables.outcome_from_daily_sales`` reads (the step loads only these)
OUTCOME_INPUT_COLUMNS: tuple[str, ...] = ("date", "revenue")


@dataclass(frozen=True)
class MMMSettings:
    """How the media-mix model is searched, validated and bootstrapped."""

    seed: int = _doc(0, "Seed of the hyperparameter search and the bootstrap: the same data "
                        "and seed give identical results.")
    n_candidates: int = _doc(160, "Latin-hypercube candidates of (adstock decay, Hill "
                                  "half-saturation, Hill shape per channel, ridge penalty).")
    n_refine: int = _doc(2, "Best candidates refined further by a bounded Powell search.")
    refine_evals: int = _doc(600, "Objective evaluations per refinement.")
    n_folds: int = _doc(3, "Time-series validation folds (expanding window, each validating "
                           "on the next `holdout_share` of the rows).")
    validation_weight: float = _doc(0.25, "Weight of the validation NRMSE in the search "
                                          "objective; the rest is the in-sample NRMSE.")
    holdout_share: float = _doc(0.1, "Share of the rows in each validation block.")
    n_bootstrap: int = _doc(200, "Moving-block bootstrap refits behind the ROI intervals.")
    interval: float = _doc(0.8, "Coverage of the ROI and marginal-ROI intervals.")
    max_decay: float = _doc(0.9, "Upper bound of the geometric adstock decay per row.")
    yearly_order: int = _doc(2, "Fourier pairs of the yearly season (used with a year of data).")


@dataclass(frozen=True)
class BudgetSettings:
    """How the budget is allocated on the fitted response curves."""

    period_days: int = _doc(28, "Length of the planning period in days: the budget is per "
                                "period and 'recent average spend' is the average over the "
                                "last `recent_periods` periods.")
    recent_periods: int = _doc(3, "Periods averaged for the current split and the bounds.")
    total_budget: float = _doc(0.0, "Budget of the period to allocate (0: the last period's "
                                    "total spend).")
    lower_multiple: float = _doc(0.5, "Lower bound per channel as a multiple of its recent "
                                      "average spend per period.")
    upper_multiple: float = _doc(2.0, "Upper bound per channel as a multiple of its recent "
                                      "average spend per period.")
    target_roas: float = _doc(0.0, "Target-efficiency mode when positive: the largest budget "
                                   "whose optimal split still returns this revenue per unit "
                                   "spent (and the least budget reaching it).")
    n_starts: int = _doc(6, "SLSQP starts (current split, even split, seeded random splits) "
                            "beside the marginal-ROI greedy.")
    seed: int = _doc(0, "Seed of the random SLSQP starts.")
