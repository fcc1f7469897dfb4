"""The forecast split into series buckets, so that each bucket runs on its own (issue 15).

``run_forecast`` does all of a panel's work in one call. At scale the panel is split into a
fixed set of ``n_buckets`` *series buckets* and the work runs per bucket (one Dagster
partition each, in one run or many), then combined per level:

1. ``plan_buckets``: everything decided on the whole panel, cheap and the same in every
   bucket: the coinciding series left out (``pipeline.coinciding_series``), the intermittent
   flags, the backtest origins and which models each level offers at each fold (the same
   per-level gates as ``run_forecast``: Prophet and the forest by the level's number of
   series, Croston/SBA/TSB at levels with intermittent series; counted over the whole
   level, never over one bucket, so every bucket runs the same candidates).
2. ``bucket_backtest``: per bucket, the rolling-origin backtest of its share of the work.
3. ``combine_backtests``: the buckets' backtest errors concatenated, then exactly the
   unpartitioned rule: the leaderboard, the champion per level, the champion's bias
   factor and its conformal calibrator, each from all buckets' errors of the level.
4. ``bucket_forecast``: per bucket, the champions' final fits and forecasts of its share,
   with the level's bias factor and calibrator.

Which bucket a series is in (``bucket_of``): a stable hash (blake2b, the same in every
process and Python version, unlike ``hash()``) of its product id, modulo ``n_buckets``;
a product's series and all its shop x product series share a bucket. Series without a
product (the total and shop levels: 1 + number of shops, few) are hashed by their level
name, so each of those levels stays whole in one bucket.

Which bucket runs what: per-series models (seasonal naive, Prophet, and Croston, SBA and
TSB with ``intermittent_seasonal=False``) fit each series on its own, so splitting a level's
series between buckets changes nothing: each bucket runs them on its own series. The pooled
models (``pooled_models``: the seasonal profile's shared shapes, the global gradient boosting,
the Random Forest, and the seasonal Croston, SBA and TSB, whose weekday x month shape is the
level's) learn from all a level's series at once; with ``pooling="level"`` (the default)
each pooled (level, model) pair runs once, on the whole level, in the bucket
``pooled_owners`` assigns it, so every model sees exactly the data of the unpartitioned run: the backtest errors, the leaderboard,
the champion per level, the bias factors, the intervals and the forecast equal
``run_forecast``'s (up to float summation order). Their cost is bounded anyway: they
sample at most ``boost_max_train_rows`` / ``forest_max_train_rows`` training rows. With
``pooling="bucket"`` each bucket fits the pooled models on its own series only (spreads
the pooled work too, but each pooled model sees 1/n of the level, so its errors and
possibly the champion differ from the unpartitioned run's).

What differs from ``run_forecast`` by design: the champions' final fits run after the
choice (no speculative fits of every candidate), and they are not stored in the model
registry (one model per level and bucket); ``model_version`` says
``unregistered-b<bucket>-<fingerprint of the fitted history>``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from time import perf_counter

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.backtest import (
    _run_task,
    choose_champions,
    collect_errors,
    leaderboard,
    mase_scales,
    rolling_origins,
    run_in_threads,
)
from retail_pipeline.forecasting.events import HolidayCalendar
from retail_pipeline.forecasting.intermittent import intermittent_series
from retail_pipeline.forecasting.intervals import ConformalCalibrator
from retail_pipeline.forecasting.panel import LEVELS, series_keys
from retail_pipeline.forecasting.pipeline import (
    SALES_FORECAST_COLUMNS,
    backtest_bias_factor,
    coinciding_series,
    has_enough_history,
    make_model,
    min_history_days,
    model_factories,
    settings_calendar,
)
from retail_pipeline.forecasting.settings import INTERMITTENT_MODELS, ForecastSettings
from retail_pipeline.platform.registry import fingerprint_frame

DEFAULT_N_BUCKETS = 8
POOLED_MODELS = frozenset({"seasonal_profile", "global_hgb", "random_forest"})
POOLINGS = ("level", "bucket")
FINAL = -1  # the "fold" of the final fit in ``BucketPlan.offers``
CHAMPION_COLUMNS = ["level", "model", "bias_factor", "horizon_bucket", "q_lower", "q_upper",
                    "n_buckets", "pooling", "settings"]


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process (unlike ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def bucket_key(keys: pd.DataFrame) -> pd.Series:
    """What decides a series' bucket: its product id, or its level name without a product."""
    product = keys["product_id"]
    has_product = product.notna() & (product.astype(str) != "")
    return pd.Series(np.where(has_product, product.astype(str), keys["level"].astype(str)),
                     index=keys.index)


def bucket_of(keys: pd.DataFrame, n_buckets: int) -> pd.Series:
    """``series_id -> bucket`` (0 .. n_buckets - 1) for ``level, series_id, product_id`` rows."""
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
    buckets = [stable_hash(k) % n_buckets for k in bucket_key(keys)]
    return pd.Series(buckets, index=keys["series_id"].to_numpy(), name="bucket", dtype=int)


def pooled_models(settings: ForecastSettings) -> frozenset[str]:
    """Models that learn from all a level's series at once under ``settings``."""
    if settings.intermittent_seasonal:  # their shape is pooled over the level
        return POOLED_MODELS | frozenset(INTERMITTENT_MODELS)
    return POOLED_MODELS


def pooled_owners(offers, n_buckets: int,
                  pooled: frozenset[str] = POOLED_MODELS) -> dict[tuple[str, str], int]:
    """``(level, pooled model) -> bucket`` that runs it on the whole level (``pooling="level"``).

    Round robin over the pairs ordered by model, then level (``LEVELS`` order), so the
    expensive ones (the boosting and the forest at each level) land in different buckets;
    the same offers and bucket count always give the same owners.
    """
    rank = {level: i for i, level in enumerate(LEVELS)}
    pairs = sorted({(model, level) for (level, _), models in offers.items()
                    for model in models if model in pooled},
                   key=lambda p: (p[0], rank.get(p[1], len(rank)), p[1]))
    return {(level, model): i % n_buckets for i, (model, level) in enumerate(pairs)}


@dataclass
class BucketPlan:
    """What every bucket needs to know about the whole panel (see module docstring)."""

    settings: ForecastSettings
    n_buckets: int
    pooling: str
    calendar: HolidayCalendar
    fitted: pd.DataFrame  # the panel without coinciding series
    aliases: pd.DataFrame
    flags: pd.Series  # series_id -> intermittent
    buckets: pd.Series  # series_id -> bucket, for every series of ``fitted``
    origins: list[pd.Timestamp]
    offers: dict[tuple[str, int], tuple[str, ...]]  # (level, fold or FINAL) -> models
    keys: pd.DataFrame  # level, series_id, shop_id, product_id of the whole panel
    owners: dict[tuple[str, str], int]  # (level, pooled model) -> bucket, see pooled_owners
    pooled: frozenset[str]  # the models that see a whole level, see pooled_models

    def share(self, frame: pd.DataFrame, level: str, model: str, bucket: int) -> pd.DataFrame:
        """The rows of ``frame`` (one level's) that ``bucket`` fits ``model`` on."""
        if model in self.pooled and self.pooling == "level":
            return frame if self.owners[(level, model)] == bucket else frame.iloc[:0]
        return frame[frame["series_id"].map(self.buckets).to_numpy() == bucket]


def plan_buckets(panel: pd.DataFrame, settings: ForecastSettings | None = None,
                 n_buckets: int = DEFAULT_N_BUCKETS, *, calendar: HolidayCalendar | None = None,
                 pooling: str = "level") -> BucketPlan:
    """The plan of a partitioned forecast of ``panel`` (step 1 of the module docstring)."""
    settings = settings or ForecastSettings()
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
    if not has_enough_history(panel, settings):
        raise ValueError("not enough history for a backtest: need at least "
                         f"{min_history_days(settings)} days (see has_enough_history)")
    calendar = calendar if calendar is not None else settings_calendar(settings)
    aliases = coinciding_series(panel)
    fitted = panel[~panel["series_id"].isin(set(aliases["series_id"]))]
    flags = intermittent_series(fitted, settings.intermittent_share)
    levels_with = set(fitted.loc[fitted["series_id"].isin(flags.index[flags]), "level"])
    factories = model_factories(settings, calendar, levels_with)
    origins = rolling_origins(fitted["ds"].max(), settings.horizon, settings.n_folds,
                              settings.fold_step)
    offers = {}
    for level, part in fitted.groupby("level", sort=False):
        cut_offs = [(fold, part[part["ds"] <= origin]) for fold, origin in enumerate(origins)]
        for fold, history in [*cut_offs, (FINAL, part)]:
            if history.empty:
                continue
            n_series = history["series_id"].nunique()  # over the whole level, as run_forecast
            offers[(level, fold)] = tuple(
                name for name, factory in factories.items()
                if factory(level, n_series, settings.horizon) is not None)
    keys = series_keys(panel)
    fitted_keys = keys[keys["series_id"].isin(set(fitted["series_id"]))]
    pooled = pooled_models(settings)
    return BucketPlan(settings, n_buckets, pooling, calendar, fitted, aliases, flags,
                      bucket_of(fitted_keys, n_buckets), origins, offers, keys,
                      pooled_owners(offers, n_buckets, pooled), pooled)


def bucket_backtest(plan: BucketPlan, bucket: int) -> pd.DataFrame:
    """Backtest errors (``backtest.ERROR_COLUMNS``) of ``bucket``'s share of the work."""
    _check_bucket(plan, bucket)
    settings, horizon = plan.settings, plan.settings.horizon
    tasks = []
    for level, part in plan.fitted.groupby("level", sort=False):
        for fold, origin in enumerate(plan.origins):
            history = part[part["ds"] <= origin][["series_id", "ds", "y"]]
            if history.empty:
                continue
            actual = part[(part["ds"] > origin) & (part["ds"] <= origin + pd.Timedelta(days=horizon))]
            for name in plan.offers[(level, fold)]:
                own = plan.share(history, level, name, bucket)
                if own.empty:
                    continue
                model = make_model(name, horizon, settings, calendar=plan.calendar)
                tasks.append(partial(_run_task, level, fold, origin, name, model, own,
                                     plan.share(actual, level, name, bucket), horizon))
    return collect_errors(run_in_threads(tasks, settings.n_jobs))


@dataclass
class Champions:
    """The per-level decision made from all buckets' backtests (step 3)."""

    leaderboard: pd.DataFrame
    champions: dict[str, str]
    bias_factors: dict[str, float]
    calibrators: dict[str, ConformalCalibrator]
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_frame(self, plan: BucketPlan) -> pd.DataFrame:
        """One row per level and conformal horizon bucket (``-1`` = the whole level), with the
        plan's settings as JSON: what the per-bucket forecasts need, as one storable table."""
        settings = json.dumps(asdict(plan.settings), sort_keys=True)
        rows = [(level, model, self.bias_factors[level], b, lo, hi, plan.n_buckets, plan.pooling,
                 settings)
                for level, model in self.champions.items()
                for (lv, b), (lo, hi) in self.calibrators[level].quantiles.items() if lv == level]
        return pd.DataFrame(rows, columns=CHAMPION_COLUMNS)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Champions:
        champions, factors, calibrators = {}, {}, {}
        for level, part in frame.groupby("level", sort=False):
            champions[level] = str(part["model"].iloc[0])
            factors[level] = float(part["bias_factor"].iloc[0])
            settings = json.loads(part["settings"].iloc[0])
            calibrators[level] = ConformalCalibrator(interval=settings["interval"], quantiles={
                (level, int(r.horizon_bucket)): (float(r.q_lower), float(r.q_upper))
                for r in part.itertuples()})
        return cls(pd.DataFrame(), champions, factors, calibrators)


def settings_from_frame(frame: pd.DataFrame) -> tuple[ForecastSettings, int, str]:
    """``(settings, n_buckets, pooling)`` stored by ``Champions.to_frame``."""
    values = json.loads(frame["settings"].iloc[0])
    values["models"] = tuple(values["models"])
    return (ForecastSettings(**values), int(frame["n_buckets"].iloc[0]),
            str(frame["pooling"].iloc[0]))


def combine_backtests(plan: BucketPlan, bucket_errors: list[pd.DataFrame]) -> Champions:
    """Leaderboard, champion, bias factor and calibrator per level over all buckets."""
    settings = plan.settings
    errors = collect_errors([e for e in bucket_errors if len(e)])
    board = leaderboard(errors, mase_scales(plan.fitted, errors), settings.interval, plan.flags,
                        settings.max_bias_pct, settings.bias_mase_tolerance)
    champions = choose_champions(board, settings.max_bias_pct, settings.bias_mase_tolerance)
    factors, calibrators = {}, {}
    for level, model_name in champions.items():
        own = errors[(errors["model"] == model_name) & (errors["level"] == level)]
        factors[level] = (backtest_bias_factor(own, rule=settings.bias_correction_rule)
                          if settings.backtest_bias_correction else 1.0)
        calibrators[level] = ConformalCalibrator(interval=settings.interval).fit(
            own.assign(yhat=own["yhat"] * factors[level]))
    return Champions(board, champions, factors, calibrators, errors)


def bucket_forecast(plan: BucketPlan, champions: Champions, bucket: int,
                    created_at: datetime | None = None) -> pd.DataFrame:
    """``sales_forecast`` rows of ``bucket``'s share: each level's champion fitted on the
    bucket's share of the level's full history, with the level's bias factor and interval."""
    _check_bucket(plan, bucket)
    settings = plan.settings
    created_at = created_at or datetime.now(UTC)
    jobs = []
    for level, part in plan.fitted.groupby("level", sort=False):
        if level not in champions.champions:
            continue
        name = champions.champions[level]
        own = plan.share(part[["series_id", "ds", "y"]], level, name, bucket)
        if len(own):
            jobs.append((level, name, own.reset_index(drop=True), part["ds"].max()))

    def fit_predict(level, name, history, last_day):
        model = make_model(name, settings.horizon, settings, calendar=plan.calendar).fit(history)
        pred = model.predict(settings.horizon)
        pred["yhat"] = pred["yhat"] * champions.bias_factors[level]
        pred["level"] = level
        pred["h"] = (pred["ds"] - last_day).dt.days
        pred = champions.calibrators[level].apply(pred)
        pred["model"] = name
        pred["model_version"] = f"unregistered-b{bucket}-{fingerprint_frame(history)[:12]}"
        return pred

    frames = run_in_threads([partial(fit_predict, *job) for job in jobs], settings.n_jobs)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _FORECAST_DTYPES.items()})
    forecast = pd.concat(frames, ignore_index=True).merge(
        plan.keys[["series_id", "shop_id", "product_id"]], on="series_id", how="left")
    forecast = forecast.rename(columns={"ds": "date"})
    forecast["created_at"] = pd.Timestamp(created_at)
    return forecast[SALES_FORECAST_COLUMNS].sort_values(
        ["level", "series_id", "date"], kind="stable").reset_index(drop=True)


_FORECAST_DTYPES = {"date": "datetime64[ns]", "level": "str", "series_id": "str",
                    "shop_id": "str", "product_id": "str", "yhat": "float64",
                    "yhat_lower": "float64", "yhat_upper": "float64", "model": "str",
                    "model_version": "str", "created_at": "datetime64[ns, UTC]"}


def combine_forecasts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The buckets' forecasts as one ``sales_forecast`` table, in its usual order."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _FORECAST_DTYPES.items()})
    return pd.concat(parts, ignore_index=True).sort_values(
        ["level", "series_id", "date"], kind="stable").reset_index(drop=True)


@dataclass
class PartitionedResult:
    forecast: pd.DataFrame
    champions: Champions
    plan: BucketPlan
    seconds: dict[str, float]  # "plan", "backtest_<b>", "combine", "forecast_<b>"
    bucket_errors: list[pd.DataFrame] = field(default_factory=list)  # backtest per bucket
    bucket_forecasts: list[pd.DataFrame] = field(default_factory=list)


def run_partitioned_forecast(panel: pd.DataFrame, settings: ForecastSettings | None = None,
                             n_buckets: int = DEFAULT_N_BUCKETS, *,
                             calendar: HolidayCalendar | None = None, pooling: str = "level",
                             created_at: datetime | None = None) -> PartitionedResult:
    """Every step of the module docstring in one process, bucket after bucket (with timings)."""
    seconds = {}
    start = perf_counter()
    plan = plan_buckets(panel, settings, n_buckets, calendar=calendar, pooling=pooling)
    seconds["plan"] = perf_counter() - start
    errors = []
    for b in range(n_buckets):
        start = perf_counter()
        errors.append(bucket_backtest(plan, b))
        seconds[f"backtest_{b}"] = perf_counter() - start
    start = perf_counter()
    champions = combine_backtests(plan, errors)
    seconds["combine"] = perf_counter() - start
    parts = []
    for b in range(n_buckets):
        start = perf_counter()
        parts.append(bucket_forecast(plan, champions, b, created_at))
        seconds[f"forecast_{b}"] = perf_counter() - start
    return PartitionedResult(combine_forecasts(parts), champions, plan, seconds, errors, parts)


def _check_bucket(plan: BucketPlan, bucket: int) -> None:
    if not 0 <= bucket < plan.n_buckets:
        raise ValueError(f"bucket {bucket} is outside 0..{plan.n_buckets - 1}")
