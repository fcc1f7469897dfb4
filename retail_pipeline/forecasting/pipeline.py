"""Backtest -> champion per level -> refit -> forecast with conformal intervals.

``run_forecast`` is what the ``forecast_leaderboard`` and ``sales_forecast`` assets call:

1. backtest every candidate model on ``n_folds`` rolling origins per level
   (``backtest``), and build the leaderboard;
2. pick the champion of each level from the backtest alone (lowest MASE; see
   ``backtest.choose_champions``);
3. calibrate the champion's 80% interval on its own backtest errors (``intervals``);
4. fit the champion on the full history (or reuse the registry's latest version when it
   was trained on exactly the same data and settings, unless ``force_retrain``), save it in
   the registry, and forecast ``horizon`` days. With ``speculative_final_fit`` the final
   fits of all candidates run in the same thread pool as the backtest, so the champion's
   fit does not wait for the choice; only the champion is saved and used.

Which models are offered where (``ForecastSettings``): seasonal naive and the global
gradient boosting everywhere; Prophet only at levels with at most
``prophet_max_series`` series (it is one optimisation per series); the Random Forest at
levels with at most ``forest_max_series`` series, on at most ``forest_max_train_rows``
sampled training rows (a forest of deep trees costs far more per row than boosting, and
on the 500 store-item series it lost to it in the backtest, MASE 0.765 against 0.755, so
on big levels it would mostly spend the refresh budget).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

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
from retail_pipeline.forecasting.base import Forecaster
from retail_pipeline.forecasting.boosting import GlobalBoostingForecaster
from retail_pipeline.forecasting.forest import RandomForestForecaster
from retail_pipeline.forecasting.intervals import ConformalCalibrator
from retail_pipeline.forecasting.naive import SeasonalNaive
from retail_pipeline.forecasting.panel import series_keys
from retail_pipeline.forecasting.prophet_model import ProphetForecaster
from retail_pipeline.forecasting.settings import ForecastSettings
from retail_pipeline.platform.registry import ModelRecord, ModelRegistry, fingerprint_frame

SALES_FORECAST_COLUMNS = ["date", "level", "series_id", "shop_id", "product_id", "yhat",
                          "yhat_lower", "yhat_upper", "model", "model_version", "created_at"]


def make_model(name: str, horizon: int, settings: ForecastSettings,
               prophet_jobs: int = 1) -> Forecaster:
    """A fresh, unfitted model of the given zoo name.

    Prophet gets worker processes only where nothing else runs in parallel with it
    (``prophet_jobs``); inside the threaded backtest each task stays single-process.
    """
    if name == "seasonal_naive":
        return SeasonalNaive("year", interval=settings.interval)
    if name == "prophet":
        return ProphetForecaster(interval=settings.interval, n_jobs=prophet_jobs)
    if name == "random_forest":
        return RandomForestForecaster(
            horizon=horizon, train_days=settings.train_days, n_estimators=settings.forest_trees,
            max_train_rows=settings.forest_max_train_rows,
            max_depth=settings.forest_max_depth, min_samples_leaf=10, n_jobs=1,
            interval=settings.interval)
    if name == "global_hgb":
        return GlobalBoostingForecaster(horizon=horizon, train_days=settings.train_days,
                                        interval=settings.interval)
    raise ValueError(f"unknown model {name!r}")


def model_factories(settings: ForecastSettings) -> dict:
    """``name -> factory(level, n_series, horizon)`` honouring the per-level offers."""
    def factory(name):
        def build(level: str, n_series: int, horizon: int):
            if name == "prophet" and n_series > settings.prophet_max_series:
                return None
            if name == "random_forest" and n_series > settings.forest_max_series:
                return None
            return make_model(name, horizon, settings)
        return build
    return {name: factory(name) for name in settings.models}


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

    @classmethod
    def empty(cls) -> ForecastResult:
        """No forecast (no or too little history): empty frames with the real columns."""
        return cls(pd.DataFrame(columns=SALES_FORECAST_COLUMNS),
                   pd.DataFrame(columns=LEADERBOARD_COLUMNS), pd.DataFrame(columns=ERROR_COLUMNS),
                   {})


def run_forecast(panel: pd.DataFrame, settings: ForecastSettings | None = None, *,
                 registry: ModelRegistry | None = None, force_retrain: bool = False,
                 created_at: datetime | None = None) -> ForecastResult:
    """The whole forecasting step (see module docstring)."""
    settings = settings or ForecastSettings()
    created_at = created_at or datetime.now(UTC)
    factories = model_factories(settings)
    if not has_enough_history(panel, settings):
        raise ValueError("not enough history for a backtest: need at least "
                         f"{min_history_days(settings)} days (see has_enough_history)")
    tasks = backtest_tasks(panel, factories, settings.horizon, settings.n_folds,
                           settings.fold_step)
    candidates = _final_candidates(panel, factories, settings, registry, force_retrain)
    speculative = [c for c in candidates.values()
                   if c.cached is None and settings.speculative_final_fit]
    outputs = run_in_threads(tasks + [c.fit for c in speculative], settings.n_jobs)
    errors = collect_errors(outputs[: len(tasks)])
    board = leaderboard(errors, mase_scales(panel, errors), settings.interval)
    champions = choose_champions(board)
    keys = series_keys(panel)
    result = ForecastResult(pd.DataFrame(), board, errors, champions)

    frames = []
    for level, model_name in champions.items():
        candidate = candidates[(level, model_name)]
        model, version = candidate.final_model(board, registry)
        calibrator = ConformalCalibrator(interval=settings.interval).fit(
            errors[(errors["model"] == model_name) & (errors["level"] == level)])
        pred = model.predict(settings.horizon)
        pred["level"] = level
        pred["h"] = (pred["ds"] - candidate.history["ds"].max()).dt.days
        pred = calibrator.apply(pred)
        pred["model"] = model_name
        pred["model_version"] = version
        frames.append(pred)
        result.models[level] = model
        result.versions[level] = version
        result.calibrators[level] = calibrator
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
    model: Forecaster | None = None

    @property
    def registry_name(self) -> str:
        return f"{self.level}__{self.model_name}"

    def fit(self) -> Forecaster:
        self.model = make_model(self.model_name, self.settings.horizon, self.settings,
                                self.settings.n_jobs).fit(self.history)
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
                                              "coverage80", "coverage80_conformal")
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
                      registry: ModelRegistry | None,
                      force_retrain: bool) -> dict[tuple[str, str], _Candidate]:
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
            params = {"model": name, "level": level, **{
                k: v for k, v in asdict(settings).items()
                if k not in ("n_jobs", "speculative_final_fit")}}
            fingerprint = data_fp + ":" + _digest(params)
            cached = None
            if registry is not None and not force_retrain:
                record = registry.latest(f"{level}__{name}")
                if record is not None and record.data_fingerprint == fingerprint:
                    cached = record
            out[(level, name)] = _Candidate(level, name, history, settings, fingerprint, cached)
    return out


def _digest(params: Mapping) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def champion_feature_importances(result: ForecastResult) -> pd.DataFrame:
    """``model, cohort, feature, importance`` for the tree-model champions."""
    from retail_pipeline.forecasting.tabular import importances_of

    return importances_of({level: (result.champions[level], model)
                           for level, model in result.models.items()})
