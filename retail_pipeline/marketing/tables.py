"""The frames behind the marketing warehouse tables, from the fitted model and forecasts.

- ``roi_forecast_table`` -> ``ml_roi_forecast``: per channel the ROI expected for the next
  period at the current budget (the response curve at the recent average spend), its
  bootstrap interval, the marginal ROI there, the historical ROI and the curve parameters
  the allocator needs;
- ``budget_table`` -> ``ml_budget_rec``: the allocation with predicted ROI, conversion
  rate, cost per acquisition, binding bounds and a note;
- ``response_curve_table`` -> ``response_curves``: each curve on a spend grid with the
  current and recommended budgets marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.marketing.allocate import Allocation, ResponseCurve

ROI_FORECAST_COLUMNS = ["channel", "roi_forecast", "roi_lower", "roi_upper", "marginal_roi",
                        "marginal_roi_lower", "marginal_roi_upper", "roi_historical",
                        "current_budget", "last_period_spend", "period_days", "rows_per_period",
                        "coefficient", "half_saturation", "hill_shape", "decay", "cv_nrmse"]
BUDGET_COLUMNS = ["channel", "roi_pred", "conversion_pred", "acquisition_cost",
                  "recommended_budget", "total_budget", "current_budget", "expected_revenue",
                  "current_expected_revenue", "marginal_roi", "lower_bound", "upper_bound",
                  "bound_binding", "conversions_pred", "mode", "note"]
CURVE_COLUMNS = ["channel", "spend", "expected_response", "marginal_roi", "current_budget",
                 "recommended_budget"]


def outcome_from_daily_sales(daily_sales: pd.DataFrame) -> pd.Series:
    """Net sales revenue per day (rows without a known revenue are left out); reads only
    ``settings.OUTCOME_INPUT_COLUMNS``."""
    if daily_sales.empty:
        return pd.Series(dtype="float64")
    known = daily_sales[daily_sales["revenue"].notna()]
    return known.groupby(pd.to_datetime(known["date"]).dt.normalize())["revenue"].sum().astype("float64")


def outcome_from_upload(outcomes: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """(revenue per date, controls per date) of an uploaded ``marketing_outcomes`` table.

    Every extra column is a control: numbers as they are (empty = 0), a text column (e.g.
    Robyn's ``events``) as one 0/1 indicator per value, like the wide converter does.
    """
    dates = pd.to_datetime(outcomes["date"]).dt.normalize()
    revenue = pd.Series(outcomes["revenue"].astype("float64").to_numpy(), index=dates)
    controls = pd.DataFrame(index=dates)
    for column in outcomes.columns:
        if column in ("date", "revenue"):
            continue
        text = outcomes[column].astype("str").where(outcomes[column].notna(), "")
        numeric = pd.to_numeric(text.where(text.str.strip() != ""), errors="coerce")
        if numeric.notna().sum() == (text.str.strip() != "").sum():
            controls[column] = numeric.fillna(0.0).to_numpy("float64")
        else:
            for value in sorted(set(text) - {"", "na", "nan", "none"}):
                controls[f"{column}_{value}"] = (text == value).astype("float64").to_numpy()
    return revenue.sort_index(), controls.sort_index()


def period_spend(model, period_days: int, recent_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """(recent average spend per period, last period's spend) per channel."""
    rows = model.rows_per_period(period_days)
    spend = model.spend[model.channels].to_numpy()
    recent = spend[-rows * recent_periods:].mean(axis=0) * rows
    return recent, spend[-rows:].sum(axis=0)


def roi_forecast_table(model, period_days: int = 28, recent_periods: int = 3) -> pd.DataFrame:
    current, last = period_spend(model, period_days, recent_periods)
    curves = model.curves(period_days)
    hist = model.roi().set_index("channel")
    alpha = (1 - model.settings.interval) / 2
    rows = []
    for j, c in enumerate(model.channels):
        curve, fit = curves[c], model.fits[c]
        budget = current[j]
        roi = float(curve.response(budget) / budget) if budget > 0 else np.nan
        mroi = float(curve.marginal(budget))
        draws = model.boot_coefficients[:, j] / fit.coefficient if fit.coefficient > 0 else \
            np.zeros(len(model.boot_coefficients))
        rows.append({
            "channel": c, "roi_forecast": roi,
            "roi_lower": float(np.quantile(draws * roi, alpha)) if budget > 0 else np.nan,
            "roi_upper": float(np.quantile(draws * roi, 1 - alpha)) if budget > 0 else np.nan,
            "marginal_roi": mroi, "marginal_roi_lower": float(np.quantile(draws * mroi, alpha)),
            "marginal_roi_upper": float(np.quantile(draws * mroi, 1 - alpha)),
            "roi_historical": float(hist.loc[c, "roi"]), "current_budget": float(budget),
            "last_period_spend": float(last[j]), "period_days": period_days,
            "rows_per_period": curve.rows, "coefficient": curve.coefficient,
            "half_saturation": curve.half_saturation, "hill_shape": curve.shape,
            "decay": fit.decay, "cv_nrmse": model.cv_nrmse})
    return pd.DataFrame(rows, columns=ROI_FORECAST_COLUMNS)


def curves_from_table(roi_forecast: pd.DataFrame) -> list[ResponseCurve]:
    return [ResponseCurve(r.channel, float(r.coefficient), float(r.half_saturation),
                          float(r.hill_shape), int(r.rows_per_period))
            for r in roi_forecast.itertuples()]


def budget_table(alloc: Allocation, roi_timeseries: pd.DataFrame, recent_conversions: pd.Series,
                 mode: str) -> pd.DataFrame:
    """``ml_budget_rec``: the allocation plus conversion forecasts and cost per acquisition.

    ``conversion_pred`` is the forecast conversion rate (conversions per click) averaged over
    the horizon; ``conversions_pred`` scales the channel's recent conversions per period by
    the response ratio of the recommended to the current budget, and
    ``acquisition_cost`` = recommended budget / ``conversions_pred``.
    """
    frame = alloc.frame()
    future = roi_timeseries[roi_timeseries["conversion_actual"].isna()] if len(roi_timeseries) \
        else roi_timeseries
    conv_rate = future.groupby("channel")["conversion_pred"].mean() if len(future) else pd.Series(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(alloc.current_response > 0, alloc.response / alloc.current_response, np.nan)
        conversions = recent_conversions.reindex(alloc.channels).to_numpy("float64") * ratio
        frame["roi_pred"] = np.where(alloc.recommended > 0, alloc.response / alloc.recommended, np.nan)
        frame["conversions_pred"] = conversions
        frame["acquisition_cost"] = np.where(conversions > 0, alloc.recommended / conversions, np.nan)
    frame["conversion_pred"] = frame["channel"].map(conv_rate).astype("float64")
    frame["mode"] = mode
    frame["note"] = " ".join(alloc.notes)
    return frame[BUDGET_COLUMNS]


def response_curve_table(curves: list[ResponseCurve], current, recommended, upper,
                         points: int = 60) -> pd.DataFrame:
    rows = []
    for curve, cur, rec, hi in zip(curves, current, recommended, upper, strict=True):
        top = max(hi, 1.5 * max(cur, rec), 1e-9)
        grid = np.unique(np.r_[np.linspace(0.0, top, points), cur, rec])
        rows.append(pd.DataFrame({"channel": curve.channel, "spend": grid,
                                  "expected_response": curve.response(grid),
                                  "marginal_roi": curve.marginal(grid), "current_budget": cur,
                                  "recommended_budget": rec}))
    if not rows:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    out = pd.concat(rows, ignore_index=True)
    out["marginal_roi"] = out["marginal_roi"].replace(np.inf, np.nan)
    return out[CURVE_COLUMNS]
