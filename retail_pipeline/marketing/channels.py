"""Channel time series: reach, CTR, conversion rate and ROI per channel, and their forecast.

``channel_daily`` sums the spend rows per day and channel (campaigns added up; weekly
rows spread evenly over their seven days). The ratios are trailing 7-day ratios (a
day's clicks over a day's impressions is too noisy to forecast):

- ``ctr`` = clicks / impressions, ``conversion_rate`` = conversions / clicks;
- ``roi`` = revenue / spend, with the revenue the channel reports where given and
  otherwise the revenue the media-mix model attributes to it (its contribution);
- ``reach`` is the daily reach as uploaded.

The forecast runs through the forecasting machinery (``retail_pipeline.forecasting``): the
four metrics are four *levels* of a forecast panel whose series are the channels, so the
same rolling-origin backtest picks a champion per metric, calibrates its interval on the
backtest errors and forecasts the horizon. The "predicted" values over the history are the
champion's backtest forecasts (the most recent origin for each day), so actual and
predicted can be compared where both exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retail_pipeline.marketing.mmm import row_days_of

ADDITIVE = ("spend", "impressions", "reach", "clicks", "conversions", "revenue")
METRICS = ("reach", "ctr", "conversion_rate", "roi")
ROI_COLUMNS = ["date", "channel", "roi_actual", "conversion_actual", "roi_pred",
               "conversion_pred", "roi_lower", "roi_upper", "conversion_lower",
               "conversion_upper", "roi_source"]
REACH_COLUMNS = ["date", "channel", "reach_actual", "ctr_actual", "reach_pred", "ctr_pred",
                 "reach_lower", "reach_upper", "ctr_lower", "ctr_upper"]
WINDOW = 7


def channel_daily(spend: pd.DataFrame) -> pd.DataFrame:
    """One row per day and channel with the additive columns (missing where never given)."""
    cols = [c for c in ADDITIVE if c in spend.columns]
    frame = spend.assign(date=pd.to_datetime(spend["date"]).dt.normalize())
    for c in cols:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    given = frame.groupby("channel", observed=True)[cols].agg(lambda s: s.notna().any())
    daily = frame.groupby(["date", "channel"], observed=True)[cols].sum(min_count=1).reset_index()
    if row_days_of(daily["date"]) == 7:  # spread each week over its seven days
        daily = daily.loc[daily.index.repeat(7)].reset_index(drop=True)
        daily["date"] = daily["date"] + pd.to_timedelta(np.tile(np.arange(7), len(daily) // 7), "D")
        daily[cols] = daily[cols] / 7.0
    out = []
    for channel, part in daily.groupby("channel", observed=True, sort=True):
        days = pd.date_range(part["date"].min(), daily["date"].max(), freq="D")
        part = part.set_index("date").reindex(days).rename_axis("date").reset_index()
        part["channel"] = str(channel)
        for c in cols:
            part[c] = part[c].fillna(0.0) if given.loc[channel, c] else np.nan
        out.append(part)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["date", "channel", *cols])


def channel_metrics(daily: pd.DataFrame, attributed: pd.DataFrame | None = None) -> pd.DataFrame:
    """``date, channel, reach, ctr, conversion_rate, roi, roi_source`` (trailing ratios).

    ``attributed``: ``date, channel, contribution`` of the media-mix model (daily), used as
    the revenue of channels that report none.
    """
    rows = []
    for channel, part in daily.groupby("channel", sort=True):
        part = part.sort_values("date").set_index("date")
        roll = part[[c for c in ADDITIVE if c in part]].rolling(WINDOW, min_periods=1).sum()
        revenue, source = (roll["revenue"], "reported") if "revenue" in roll and \
            part["revenue"].notna().any() else (None, "media_mix_model")
        if revenue is None and attributed is not None and len(attributed):
            contrib = (attributed[attributed["channel"] == channel].set_index("date")["contribution"]
                       .reindex(part.index).fillna(0.0))
            revenue = contrib.rolling(WINDOW, min_periods=1).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            metrics = pd.DataFrame({
                "reach": part["reach"] if "reach" in part else np.nan,
                "ctr": roll["clicks"] / roll["impressions"] if {"clicks", "impressions"} <= set(roll) else np.nan,
                "conversion_rate": roll["conversions"] / roll["clicks"] if {"conversions", "clicks"} <= set(roll) else np.nan,
                "roi": revenue / roll["spend"] if revenue is not None else np.nan,
            }, index=part.index)
        metrics = metrics.replace([np.inf, -np.inf], np.nan)
        metrics["channel"], metrics["roi_source"] = str(channel), source if revenue is not None else ""
        rows.append(metrics.reset_index())
    if not rows:
        return pd.DataFrame(columns=["date", "channel", *METRICS, "roi_source"])
    return pd.concat(rows, ignore_index=True)[["date", "channel", *METRICS, "roi_source"]]


def metric_panel(metrics: pd.DataFrame) -> pd.DataFrame:
    """The forecast panel: one level per metric, one series per channel that has it.

    A series starts at its first known value; gaps inside it (a week without clicks) carry
    the last value forward, since the models need a value on every day.
    """
    parts = []
    for metric in METRICS:
        for channel, part in metrics.groupby("channel", sort=True):
            values = part.set_index("date")[metric].astype("float64")
            if values.notna().sum() < 2:
                continue
            values = values.loc[values.first_valid_index():].ffill()
            parts.append(pd.DataFrame({"level": metric, "series_id": str(channel),
                                       "shop_id": None, "product_id": None,
                                       "ds": values.index, "y": values.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["level", "series_id", "shop_id", "product_id", "ds", "y"])
    return pd.concat(parts, ignore_index=True)


@dataclass
class ChannelForecast:
    frame: pd.DataFrame  # date, metric, channel, actual, pred, lower, upper, model
    champions: dict[str, str]
    status: str


def forecast_metrics(metrics: pd.DataFrame, horizon: int = 28, n_folds: int = 3,
                     models: tuple[str, ...] = ("seasonal_naive", "global_hgb"),
                     n_jobs: int = 1) -> ChannelForecast:
    """Backtest, champion, calibrated interval and forecast per metric (module docstring)."""
    from retail_pipeline.forecasting.pipeline import (
        has_enough_history,
        min_history_days,
        run_forecast,
    )
    from retail_pipeline.forecasting.settings import ForecastSettings

    settings = ForecastSettings(horizon=horizon, n_folds=n_folds, models=models,
                                prophet_max_series=0, forest_max_series=0, n_jobs=n_jobs,
                                speculative_final_fit=False)
    panel = metric_panel(metrics)
    actual = metrics.melt(id_vars=["date", "channel"], value_vars=list(METRICS),
                          var_name="metric", value_name="actual")
    if not has_enough_history(panel, settings):
        return ChannelForecast(actual.assign(pred=np.nan, lower=np.nan, upper=np.nan, model=""),
                               {}, f"skipped: the channel forecast needs "
                                   f"{min_history_days(settings)} days of history")
    result = run_forecast(panel, settings)
    errors = result.errors
    champ = errors[[result.champions.get(lvl) == m for lvl, m in zip(errors["level"], errors["model"], strict=True)]]
    past = (champ.sort_values("origin").drop_duplicates(["level", "series_id", "ds"], keep="last")
            .rename(columns={"level": "metric", "series_id": "channel", "ds": "date", "yhat": "pred",
                             "yhat_lower": "lower", "yhat_upper": "upper"}))
    future = result.forecast.rename(columns={"level": "metric", "series_id": "channel",
                                             "yhat": "pred", "yhat_lower": "lower",
                                             "yhat_upper": "upper"})
    pred = pd.concat([past[["date", "metric", "channel", "pred", "lower", "upper", "model"]],
                      future[["date", "metric", "channel", "pred", "lower", "upper", "model"]]],
                     ignore_index=True)
    frame = actual.merge(pred, on=["date", "metric", "channel"], how="outer")
    frame = frame.sort_values(["metric", "channel", "date"], ignore_index=True)
    return ChannelForecast(frame, dict(result.champions), f"champions: {result.champions}")


def _wide(forecast: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    parts = []
    for metric, short in names.items():
        part = forecast[forecast["metric"] == metric].set_index(["date", "channel"])
        parts.append(part[["actual", "pred", "lower", "upper"]].rename(columns={
            "actual": f"{short}_actual", "pred": f"{short}_pred", "lower": f"{short}_lower",
            "upper": f"{short}_upper"}))
    return pd.concat(parts, axis=1).reset_index() if parts else pd.DataFrame()


def timeseries_tables(forecast: ChannelForecast, metrics: pd.DataFrame,
                      history_days: int = 90) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``ml_roi_timeseries`` and ``ml_reach_ctr_timeseries`` frames: the last
    ``history_days`` of history plus the horizon, one row per day and channel."""
    frame = forecast.frame
    if frame.empty:
        return pd.DataFrame(columns=ROI_COLUMNS), pd.DataFrame(columns=REACH_COLUMNS)
    last_actual = metrics["date"].max()
    frame = frame[frame["date"] > last_actual - pd.Timedelta(days=history_days)]
    roi = _wide(frame, {"roi": "roi", "conversion_rate": "conversion"})
    source = metrics.groupby("channel")["roi_source"].first()
    roi["roi_source"] = roi["channel"].map(source).fillna("")
    reach = _wide(frame, {"reach": "reach", "ctr": "ctr"})
    for out in (roi, reach):
        out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    roi = roi[ROI_COLUMNS].sort_values(["date", "channel"], ignore_index=True)
    reach = reach[REACH_COLUMNS].sort_values(["date", "channel"], ignore_index=True)
    return roi, reach
