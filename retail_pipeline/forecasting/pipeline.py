"""Backtest -> champion per level -> refit -> forecast with conformal intervals.

``run_forecast`` is what the ``forecast_leaderboard`` and ``sales_forecast`` assets call:

1. backtest every candidate model on ``n_folds`` rolling origins per level
   (``backtest``), and build the leaderboard;
2. pick the champion of each level from the backtest alone (lowest MASE, unless its bias
   exceeds 10% of demand while a model within 10% is within 5% of its MASE; see
   ``backtest.choose_champions``);
3. calibrate the champion's 80% interval on its own backtest errors (``intervals``);
4. fit the champion on the full history (or reuse the registry's latest version when it
   was trained on exactly the same data and settings, unless ``force_retrain``), save it in
   the registry, and forecast ``horizon`` days. The levels' champions fit side by side in
   the thread pool; with ``speculative_final_fit`` the final fits of all candidates run in
   the same pool as the backtest instead, so no champion's fit waits for the choice (only
   the champion is saved and used).

Which models are offered where (``ForecastSettings``): seasonal naive, the seasonal
profile (level x weekday x month x growth, ``profile``) and the global gradient boosting
everywhere; Croston, SBA and TSB (``intermittent``) at levels with at
least one intermittent series (mostly zero days in the last year); Prophet only at levels
with at most
``prophet_max_series`` series (it is one optimisation per series); the Random Forest at
levels with at most ``forest_max_series`` series, on at most ``forest_max_train_rows``
sampled training rows (a forest of deep trees costs far more per row than boosting, and
on the 500 store-item series it lost to it in the backtest, MASE 0.765 against 0.755, so
on big levels it would mostly spend the refresh budget).

Bias correction: the champion's forecast is multiplied by ``backtest_bias_factor`` of its
own backtest errors (``bias_correction_rule``: ``latest``, the actual / forecast units of the
newest fold shrunk toward 1 by its noise, by default; ``consistent``, the fold ratio closest
to 1 and only when every fold erred in the same direction; within 0.8..1.25,
``base.clip_correction``; off with ``backtest_bias_correction=False``), and its conformal
band is calibrated on the corrected backtest forecasts.

Holidays: every model that can use them gets the same ``HolidayCalendar`` (country
holidays, user events, the Christmas / Black Friday / Easter peaks; see ``events``): the
tree models as features, Prophet as its ``holidays``.

Coinciding series: with one shop the shop level repeats the total, and a product sold in
one shop repeats its shop x product series. ``coinciding_series`` finds series whose daily
sales are identical to a series of an earlier level (total, shop, product, shop x
product); they are left out of the backtest and the fits, so each is fitted and stored once,
and ``ForecastResult.aliases`` (served as ``forecast_series_aliases``) points each left-out
series at the one that carries its forecast.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.backtest import (
    ERROR_COLUMNS,
    LEADERBOARD_COLUMNS,
    backtest_tasks,
    choose_champions,
    collect_errors,
    leaderboard,
    mase_scales,
    run_in_threads,
)
from retail_pipeline.forecasting.base import MAX_CORRECTION, Forecaster, clip_correction
from retail_pipeline.forecasting.boosting import GlobalBoostingForecaster
from retail_pipeline.forecasting.events import HolidayCalendar
from retail_pipeline.forecasting.forest import RandomForestForecaster
from retail_pipeline.forecasting.intermittent import IntermittentForecaster, intermittent_series
from retail_pipeline.forecasting.intervals import ConformalCalibrator
from retail_pipeline.forecasting.naive import SeasonalNaive
from retail_pipeline.forecasting.panel import LEVELS, series_keys, split_series_ids
from retail_pipeline.forecasting.profile import SeasonalProfileForecaster
from retail_pipeline.forecasting.prophet_model import ProphetForecaster
from retail_pipeline.forecasting.settings import INTERMITTENT_MODELS, ForecastSettings
from retail_pipeline.platform.arrays import runs
from retail_pipeline.platform.registry import ModelRecord, ModelRegistry, fingerprint_frame

SALES_FORECAST_COLUMNS = ["date", "level", "series_id", "shop_id", "product_id", "yhat",
                          "yhat_lower", "yhat_upper", "model", "model_version", "created_at"]
ALIAS_COLUMNS = ["level", "series_id", "same_as_level", "same_as_series_id"]


def settings_calendar(settings: ForecastSettings, country: str | None = None) -> HolidayCalendar:
    """The calendar the settings describe; ``country`` is the data's country, if known."""
    return HolidayCalendar.from_settings(settings.country or country or settings.default_country,
                                         settings.events_path)


def make_model(name: str, horizon: int, settings: ForecastSettings,
               prophet_jobs: int = 1, calendar: HolidayCalendar | None = None) -> Forecaster:
    """A fresh, unfitted model of the given zoo name.

    Prophet gets worker processes only where nothing else runs in parallel with it
    (``prophet_jobs``); inside the threaded backtest each task stays single-process.
    """
    if name == "seasonal_naive":
        return SeasonalNaive("year", interval=settings.interval)
    if name == "seasonal_profile":
        return SeasonalProfileForecaster(horizon=horizon, interval=settings.interval)
    if name == "prophet":
        return ProphetForecaster(interval=settings.interval, n_jobs=prophet_jobs,
                                 calendar=calendar)
    if name == "random_forest":
        return RandomForestForecaster(
            horizon=horizon, train_days=settings.train_days, n_estimators=settings.forest_trees,
            max_train_rows=settings.forest_max_train_rows,
            max_depth=settings.forest_max_depth, min_samples_leaf=10, n_jobs=1,
            interval=settings.interval, calendar=calendar)
    if name == "global_hgb":
        return GlobalBoostingForecaster(horizon=horizon, train_days=settings.train_days,
                                        max_train_rows=settings.boost_max_train_rows,
                                        interval=settings.interval, calendar=calendar)
    if name in INTERMITTENT_MODELS:
        return IntermittentForecaster(name, interval=settings.interval,
                                      seasonal=settings.intermittent_seasonal)
    raise ValueError(f"unknown model {name!r}")


def model_factories(settings: ForecastSettings, calendar: HolidayCalendar | None = None,
                    intermittent_levels=None) -> dict:
    """``name -> factory(level, n_series, horizon)`` honouring the per-level offers.

    ``intermittent_levels``: levels with intermittent series, where Croston, SBA and TSB
    are offered (``None``: every level).
    """
    def factory(name):
        def build(level: str, n_series: int, horizon: int):
            if name == "prophet" and n_series > settings.prophet_max_series:
                return None
            if name == "random_forest" and n_series > settings.forest_max_series:
                return None
            if (name in INTERMITTENT_MODELS and intermittent_levels is not None
                    and level not in intermittent_levels):
                return None
            return make_model(name, horizon, settings, calendar=calendar)
        return build
    return {name: factory(name) for name in settings.models}


def expand_aliases(forecast: pd.DataFrame, aliases: pd.DataFrame) -> pd.DataFrame:
    """``sales_forecast`` with a copy of the carrying series' rows for every alias.

    For readers that want every level filled (e.g. a per shop x product report when there
    is one shop): the stored table holds each forecast once, this restores the repeats.
    """
    if forecast.empty or aliases.empty:
        return forecast
    copies = aliases.merge(forecast, left_on=["same_as_level", "same_as_series_id"],
                           right_on=["level", "series_id"], suffixes=("", "_carrier"))
    if copies.empty:
        return forecast
    parts = split_series_ids(copies["series_id"])
    copies["shop_id"] = parts["shop"].to_numpy()
    copies["product_id"] = parts["product"].to_numpy()
    copies = copies[forecast.columns]
    return pd.concat([forecast, copies], ignore_index=True)


BIAS_RULES = ("latest", "consistent")


def backtest_bias_factor(errors: pd.DataFrame, limit: float = MAX_CORRECTION,
                         rule: str = "latest") -> float:
    """Multiplier that removes the champion's backtest bias, within ``1 / limit .. limit``
    (0.8..1.25: the same cut and raise on the log scale).

    Per fold, ``sum(y) / sum(yhat)``.

    - ``latest``: the ratio of the newest fold, the one nearest the forecast. A level shift
      or a ramp the model does not capture (autumn into Christmas on one year of history)
      persists over a short horizon, so the newest fold's error says most about the next.
      Only the part of it that stands out of the fold's own noise is applied
      (``shrink_to_noise``): on a few sparse series one fold's units are noisy enough that
      the full ratio would mostly add noise to the forecast.
    - ``consistent``: only when every fold errs in the same direction (a bias of the model,
      not of a period), the fold ratio closest to 1 (the most cautious one); otherwise 1.
    """
    if rule not in BIAS_RULES:
        raise ValueError(f"unknown bias correction rule {rule!r}; known: {', '.join(BIAS_RULES)}")
    if errors.empty:
        return 1.0
    sums = errors.groupby("fold")[["y", "yhat"]].sum().sort_index()
    sums = sums[sums["yhat"] > 0]
    if sums.empty:
        return 1.0
    ratios = (sums["y"] / sums["yhat"]).to_numpy()
    if rule == "latest":
        newest = errors[errors["fold"] == sums.index[-1]]
        return clip_correction(shrink_to_noise(ratios[-1], newest), limit)
    if not ((ratios > 1).all() or (ratios < 1).all()):
        return 1.0
    closest = ratios[np.argmin(np.abs(ratios - 1))]
    return clip_correction(closest, limit)


def shrink_to_noise(ratio: float, fold: pd.DataFrame) -> float:
    """``1 + w (ratio - 1)``: the fold's actual / forecast ratio shrunk toward 1 by how much
    of its distance from 1 is noise.

    The ratio's standard error treats the fold's rows (series-days) as independent:
    ``se = sqrt(sum((y - ratio yhat)^2)) / sum(yhat)``; ``w = max(0, 1 - se^2 / (ratio - 1)^2)``
    (the positive-part James-Stein weight of one estimate). A ratio within one standard
    error of 1 is not applied at all; one many standard errors away almost entirely (on the
    500 store-item series the weight was 0.996; on 30 sparse products a fold ratio of 1.075
    with a standard error of about 0.08 gives 1).
    """
    y, yhat = fold["y"].to_numpy(float), fold["yhat"].to_numpy(float)
    total = yhat.sum()
    if total <= 0 or ratio == 1:
        return float(ratio)
    se2 = float(np.sum((y - ratio * yhat) ** 2)) / total ** 2
    weight = max(0.0, 1.0 - se2 / (ratio - 1) ** 2)
    return float(1 + weight * (ratio - 1))


def coinciding_series(panel: pd.DataFrame) -> pd.DataFrame:
    """Series identical (same days, same sales) to a series of an earlier level.

    ``level, series_id, same_as_level, same_as_series_id``; the earlier level in the order
    total, shop, product, shop x product carries the forecast.
    """
    if panel.empty:
        return pd.DataFrame(columns=ALIAS_COLUMNS)
    rank = {level: i for i, level in enumerate(LEVELS)}
    # one sort, then each series is a slice of plain arrays (no per-group pandas objects)
    level_code, level_names = pd.factorize(panel["level"])
    series_code, series_names = pd.factorize(panel["series_id"])
    order = np.lexsort((panel["ds"].to_numpy(), series_code, level_code))
    days = panel["ds"].to_numpy()[order]
    units = panel["y"].to_numpy(float)[order]
    starts, ends = runs(level_code[order].astype(np.int64) * len(series_names) + series_code[order])
    keys = {}
    for start, end in zip(starts, ends, strict=True):
        level = level_names[level_code[order[start]]]
        sid = series_names[series_code[order[start]]]
        digest = hashlib.sha256(days[start:end].tobytes() + units[start:end].tobytes()).hexdigest()
        keys.setdefault(digest, []).append((rank.get(level, len(rank)), level, sid))
    rows = []
    for members in keys.values():
        members.sort()
        first_rank, first_level, first_sid = members[0]
        rows += [(level, sid, first_level, first_sid)
                 for r, level, sid in members[1:] if r != first_rank]
    return pd.DataFrame(rows, columns=ALIAS_COLUMNS)


def min_history_days(settings: ForecastSettings) -> int:
    """Days of history a backtest needs: every fold's horizon plus four weeks before."""
    return settings.horizon + (settings.n_folds - 1) * (settings.fold_step or settings.horizon) + 28


def has_enough_history(panel: pd.DataFrame, settings: ForecastSettings) -> bool:
    if panel.empty:
        return False
    return (panel["ds"].max() - panel["ds"].min()).days + 1 >= min_history_days(settings)


@dataclass
class ForecastResult:
    forecast: pd.DataFrame  # the sales_forecast frame
    leaderboard: pd.DataFrame
    errors: pd.DataFrame  # backtest rows (for charts)
    champions: dict[str, str]
    models: dict[str, Forecaster] = field(default_factory=dict)  # level -> fitted champion
    versions: dict[str, str] = field(default_factory=dict)  # level -> registry version
    calibrators: dict[str, ConformalCalibrator] = field(default_factory=dict)
    aliases: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ALIAS_COLUMNS))
    bias_factors: dict[str, float] = field(default_factory=dict)  # level -> yhat multiplier
    calendar: HolidayCalendar | None = None

    @classmethod
    def empty(cls) -> ForecastResult:
        """No forecast (no or too little history): empty frames with the real columns."""
        return cls(pd.DataFrame(columns=SALES_FORECAST_COLUMNS),
                   pd.DataFrame(columns=LEADERBOARD_COLUMNS), pd.DataFrame(columns=ERROR_COLUMNS),
                   {})

    def level_models(self) -> pd.DataFrame:
        """``level, model, version, same_as``: a coinciding level points at the one fitted."""
        rows = [{"level": level, "model": self.champions[level], "version": version,
                 "same_as": None} for level, version in self.versions.items()]
        fitted = set(self.versions)
        for level, part in self.aliases.groupby("level", sort=False):
            targets = set(part["same_as_level"])
            if level not in fitted and len(targets) == 1 and targets <= fitted:
                target = targets.pop()
                rows.append({"level": level, "model": self.champions[target],
                             "version": self.versions[target], "same_as": target})
        return pd.DataFrame(rows, columns=["level", "model", "version", "same_as"])


def run_forecast(panel: pd.DataFrame, settings: ForecastSettings | None = None, *,
                 registry: ModelRegistry | None = None, force_retrain: bool = False,
                 created_at: datetime | None = None,
                 calendar: HolidayCalendar | None = None) -> ForecastResult:
    """The whole forecasting step (see module docstring).

    ``calendar`` defaults to the settings' country (or ``default_country``) and events.
    """
    settings = settings or ForecastSettings()
    created_at = created_at or datetime.now(UTC)
    calendar = calendar if calendar is not None else settings_calendar(settings)
    if not has_enough_history(panel, settings):
        raise ValueError("not enough history for a backtest: need at least "
                         f"{min_history_days(settings)} days (see has_enough_history)")
    aliases = coinciding_series(panel)
    fitted = panel[~panel["series_id"].isin(set(aliases["series_id"]))]
    flags = intermittent_series(fitted, settings.intermittent_share)
    levels_with = set(fitted.loc[fitted["series_id"].isin(flags.index[flags]), "level"])
    factories = model_factories(settings, calendar, levels_with)
    tasks = backtest_tasks(fitted, factories, settings.horizon, settings.n_folds,
                           settings.fold_step)
    candidates = _final_candidates(fitted, factories, settings, registry, force_retrain,
                                   calendar)
    speculative = [c for c in candidates.values()
                   if c.cached is None and settings.speculative_final_fit]
    outputs = run_in_threads(tasks + [c.fit for c in speculative], settings.n_jobs)
    errors = collect_errors(outputs[: len(tasks)])
    board = leaderboard(errors, mase_scales(fitted, errors), settings.interval, flags,
                        settings.max_bias_pct, settings.bias_mase_tolerance)
    champions = choose_champions(board, settings.max_bias_pct, settings.bias_mase_tolerance)
    # the champions not fitted yet (nor in the registry) fit side by side, one per thread
    chosen = [candidates[(level, name)] for level, name in champions.items()]
    run_in_threads([c.fit for c in chosen if c.cached is None and c.model is None],
                   settings.n_jobs)
    keys = series_keys(panel)
    result = ForecastResult(pd.DataFrame(), board, errors, champions, aliases=aliases,
                            calendar=calendar)

    frames = []
    for level, model_name in champions.items():
        candidate = candidates[(level, model_name)]
        model, version = candidate.final_model(board, registry)
        own = errors[(errors["model"] == model_name) & (errors["level"] == level)]
        factor = (backtest_bias_factor(own, rule=settings.bias_correction_rule)
                  if settings.backtest_bias_correction else 1.0)
        calibrator = ConformalCalibrator(interval=settings.interval).fit(
            own.assign(yhat=own["yhat"] * factor))
        pred = model.predict(settings.horizon)
        pred["yhat"] = pred["yhat"] * factor
        pred["level"] = level
        pred["h"] = (pred["ds"] - candidate.history["ds"].max()).dt.days
        pred = calibrator.apply(pred)
        pred["model"] = model_name
        pred["model_version"] = version
        frames.append(pred)
        result.models[level] = model
        result.versions[level] = version
        result.calibrators[level] = calibrator
        result.bias_factors[level] = factor
    forecast = pd.concat(frames, ignore_index=True).merge(
        keys[["series_id", "shop_id", "product_id"]], on="series_id", how="left")
    forecast = forecast.rename(columns={"ds": "date"})
    forecast["created_at"] = pd.Timestamp(created_at)
    result.forecast = forecast[SALES_FORECAST_COLUMNS].sort_values(
        ["level", "series_id", "date"], kind="stable").reset_index(drop=True)
    return result


@dataclass
class _Candidate:
    """A model that may become a level's champion, fitted on the level's full history."""

    level: str
    model_name: str
    history: pd.DataFrame
    settings: ForecastSettings
    fingerprint: str
    cached: ModelRecord | None  # registry version trained on identical data + settings
    calendar: HolidayCalendar | None = None
    model: Forecaster | None = None

    @property
    def registry_name(self) -> str:
        return f"{self.level}__{self.model_name}"

    def fit(self) -> Forecaster:
        self.model = make_model(self.model_name, self.settings.horizon, self.settings,
                                self.settings.n_jobs, self.calendar).fit(self.history)
        return self.model

    def final_model(self, board: pd.DataFrame,
                    registry: ModelRegistry | None) -> tuple[Forecaster, str]:
        if self.cached is not None and registry is not None:
            return registry.load(self.cached.version), self.cached.version
        model = self.model or self.fit()
        if registry is None:
            return model, "unregistered-" + self.fingerprint[:12]
        row = board[(board["scope"] == "level") & (board["level"] == self.level)
                    & (board["model"] == self.model_name)].iloc[0]
        metrics = {k: float(row[k]) for k in ("mae", "mse", "rmse", "r2", "smape", "mase",
                                              "bias", "bias_pct", "spl", "coverage80",
                                              "coverage80_conformal")
                   if pd.notna(row[k])}
        window = getattr(model, "training_window", None) or (
            self.history["ds"].min().date().isoformat(),
            self.history["ds"].max().date().isoformat())
        record = registry.save(
            self.registry_name, model, model_type=self.model_name,
            features=list(getattr(model, "feature_names", []) or []),
            training_window=list(window), metrics=metrics, data_fingerprint=self.fingerprint,
            params={"level": self.level, **asdict(self.settings)})
        return model, record.version


def _final_candidates(panel: pd.DataFrame, factories: dict, settings: ForecastSettings,
                      registry: ModelRegistry | None, force_retrain: bool,
                      calendar: HolidayCalendar | None) -> dict[tuple[str, str], _Candidate]:
    out = {}
    for level, part in panel.groupby("level", sort=False):
        history = part[["series_id", "ds", "y"]].reset_index(drop=True)
        n_series = history["series_id"].nunique()
        data_fp = None
        for name, factory in factories.items():
            if factory(level, n_series, settings.horizon) is None:
                continue
            data_fp = data_fp or fingerprint_frame(history)
            # everything that shapes the fitted model (not how many threads fit it)
            params = {"model": name, "level": level, "calendar": repr(calendar), **{
                k: v for k, v in asdict(settings).items()
                if k not in ("n_jobs", "speculative_final_fit")}}
            fingerprint = data_fp + ":" + _digest(params)
            cached = None
            if registry is not None and not force_retrain:
                record = registry.latest(f"{level}__{name}")
                if record is not None and record.data_fingerprint == fingerprint:
                    cached = record
            out[(level, name)] = _Candidate(level, name, history, settings, fingerprint, cached,
                                            calendar)
    return out


def _digest(params: Mapping) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def champion_feature_importances(result: ForecastResult) -> pd.DataFrame:
    """``model, cohort, feature, importance`` for the tree-model champions."""
    from retail_pipeline.forecasting.tabular import importances_of

    return importances_of({level: (result.champions[level], model)
                           for level, model in result.models.items()})
