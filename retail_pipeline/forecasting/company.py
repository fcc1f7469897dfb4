"""Revenue forecasts per company from uploaded revenue histories (`company_revenue_forecast`).

A revenue-history upload (contract entity ``revenue_history``: ``date``, ``amount``, optional
``company_name``; empty = a single company) holds one revenue series per company. Each
series goes through the forecasting pipeline on its own and is forecast ``horizon`` (30)
days past its own last date:

- the series is made daily from the company's first to its last date, days without a row
  counting as zero revenue (as ``panel.forecast_panel`` does for sales); it is one level of
  a forecast panel, named ``company_<slug>`` so that each company's models have their own
  names in the model registry;
- a company with fewer than ``MIN_POINTS`` (10) data points is rejected: it gets no
  forecast, and ``too_short`` names it with its count (the asset check reports it as an
  ERROR; ``require_enough_points`` raises ``TooFewPoints``);
- when the history is long enough for the pipeline's backtest (``pipeline.min_history_days``:
  horizon, folds and four weeks), ``pipeline.run_forecast`` backtests every configured
  model, picks the champion, fits it and calibrates its interval on its own backtest errors
  (``method`` = ``backtested champion``);
- a shorter history (at least 10 points, less than the backtest needs) cannot be
  backtested: it is forecast by Prophet alone (trend and weekly pattern, Prophet's own
  interval) from 28 days of history on, below that by the weekly seasonal naive (the last
  week repeated, interval from the week-on-week differences). ``method`` says which and why.

Output columns: ``company_name, ds, yhat, yhat_lower, yhat_upper, model, method,
model_version, history_points, history_start, history_end, created_at``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.panel import PANEL_COLUMNS
from retail_pipeline.forecasting.pipeline import (
    has_enough_history,
    make_model,
    min_history_days,
    run_forecast,
    settings_calendar,
)
from retail_pipeline.forecasting.settings import ForecastSettings

MIN_POINTS = 10
PROPHET_MIN_DAYS = 28
SINGLE_COMPANY = "(single company)"  # the label of rows without a company name
COMPANY_FORECAST_COLUMNS = ["company_name", "ds", "yhat", "yhat_lower", "yhat_upper", "model",
                            "method", "model_version", "history_points", "history_start",
                            "history_end", "created_at"]
REJECTED_COLUMNS = ["company_name", "points", "needed", "reason"]
BACKTESTED = "backtested champion"


class TooFewPoints(ValueError):
    """A company's revenue history is too short to forecast."""


def company_labels(history: pd.DataFrame) -> pd.Series:
    """Each row's company: its name, or ``SINGLE_COMPANY`` when empty."""
    if "company_name" not in history.columns:
        return pd.Series(SINGLE_COMPANY, index=history.index, dtype="str")
    name = history["company_name"].astype("str").str.strip()
    return name.where(history["company_name"].notna() & name.ne(""), SINGLE_COMPANY)


def points_per_company(history: pd.DataFrame) -> pd.Series:
    """Data points (distinct dates with an amount) per company."""
    frame = pd.DataFrame({"company": company_labels(history),
                          "date": pd.to_datetime(history["date"]).dt.normalize(),
                          "amount": pd.to_numeric(history["amount"], errors="coerce")})
    frame = frame[frame["amount"].notna()]
    return frame.groupby("company")["date"].nunique().astype("int64")


def too_short(history: pd.DataFrame, min_points: int = MIN_POINTS) -> pd.DataFrame:
    """The companies with fewer than ``min_points`` data points, with their count and why."""
    counts = points_per_company(history)
    short = counts[counts < min_points]
    return pd.DataFrame({
        "company_name": short.index.astype("str"),
        "points": short.to_numpy("int64"),
        "needed": min_points,
        "reason": [f"company '{c}' has {n} revenue data point{'s' if n != 1 else ''}; a forecast "
                   f"needs at least {min_points}" for c, n in short.items()],
    }, columns=REJECTED_COLUMNS)


def require_enough_points(history: pd.DataFrame, min_points: int = MIN_POINTS) -> None:
    """Raise ``TooFewPoints`` naming every company below ``min_points`` and its count."""
    short = too_short(history, min_points)
    if len(short):
        raise TooFewPoints("; ".join(short["reason"]))


def level_name(company: str) -> str:
    """The panel level (and registry name prefix) of a company: readable and unique."""
    slug = re.sub(r"[^0-9a-z]+", "_", company.lower()).strip("_")[:40] or "company"
    return f"company_{slug}_{hashlib.sha256(company.encode()).hexdigest()[:6]}"


def company_panel(history: pd.DataFrame, company: str) -> pd.DataFrame:
    """One company's daily revenue as a one-series forecast panel (missing days = 0)."""
    rows = history[company_labels(history) == company]
    amount = pd.to_numeric(rows["amount"], errors="coerce")
    daily = (pd.DataFrame({"ds": pd.to_datetime(rows["date"]).dt.normalize(), "y": amount})
             .dropna().groupby("ds")["y"].sum())
    days = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
    panel = pd.DataFrame({"ds": days, "y": daily.reindex(days, fill_value=0.0).to_numpy("float64")})
    panel["level"] = level_name(company)
    panel["series_id"] = company
    panel["shop_id"] = None
    panel["product_id"] = None
    return panel[PANEL_COLUMNS]


@dataclass
class CompanyForecast:
    forecast: pd.DataFrame
    rejected: pd.DataFrame
    leaderboard: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The backtest leaderboards of the companies that had one (``level`` = company level)."""


def forecast_company_revenue(history: pd.DataFrame, settings: ForecastSettings | None = None, *,
                             registry=None, force_retrain: bool = False,
                             created_at: datetime | None = None,
                             min_points: int = MIN_POINTS) -> CompanyForecast:
    """A ``horizon``-day forecast per company with enough points (see the module docstring)."""
    settings = settings or ForecastSettings()
    created_at = created_at or datetime.now(UTC)
    rejected = too_short(history, min_points)
    counts = points_per_company(history)
    calendar = settings_calendar(settings)
    frames, boards = [], []
    for company, points in counts.items():
        if points < min_points:
            continue
        panel = company_panel(history, company)
        if has_enough_history(panel, settings):
            result = run_forecast(panel, settings, registry=registry, force_retrain=force_retrain,
                                  created_at=created_at, calendar=calendar)
            pred = result.forecast.rename(columns={"date": "ds"})
            pred["method"] = BACKTESTED
            boards.append(result.leaderboard)
        else:
            pred = _short_forecast(panel, settings, calendar)
        pred["company_name"] = None if company == SINGLE_COMPANY else company
        pred["history_points"] = int(points)
        pred["history_start"] = panel["ds"].min().date().isoformat()
        pred["history_end"] = panel["ds"].max().date().isoformat()
        pred["created_at"] = pd.Timestamp(created_at)
        frames.append(pred[COMPANY_FORECAST_COLUMNS])
    forecast = (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame({c: pd.Series(dtype="object") for c in COMPANY_FORECAST_COLUMNS}))
    board = pd.concat(boards, ignore_index=True) if boards else pd.DataFrame()
    return CompanyForecast(forecast, rejected, board)


def _short_forecast(panel: pd.DataFrame, settings: ForecastSettings, calendar) -> pd.DataFrame:
    """Prophet (from ``PROPHET_MIN_DAYS`` days) or the weekly naive, without a backtest."""
    days = len(panel)
    needed = min_history_days(settings)
    if days >= PROPHET_MIN_DAYS:
        model = make_model("prophet", settings.horizon, settings, calendar=calendar)
        name = "prophet"
    else:
        from retail_pipeline.forecasting.naive import SeasonalNaive

        model, name = SeasonalNaive("week", interval=settings.interval), "seasonal_naive_week"
    pred = model.fit(panel[["series_id", "ds", "y"]]).predict(settings.horizon)
    pred["model"] = name
    pred["method"] = (f"{name} without backtest: {days} days of history, the backtest needs "
                      f"{needed}")
    pred["model_version"] = "unregistered"
    for column in ("yhat", "yhat_lower", "yhat_upper"):
        pred[column] = pred[column].astype("float64")
    pred["yhat_lower"] = np.minimum(pred["yhat_lower"], pred["yhat"])
    pred["yhat_upper"] = np.maximum(pred["yhat_upper"], pred["yhat"])
    return pred
