"""A Random Forest for one cohort: all sales, one shop, one product, or one shop x product.

This is the sales-dashboard's per-cohort model: the launchpad config names a shop and/or
a product, the forest is trained on that cohort's daily series and reports MSE, MAE and
R2 on the last ``horizon`` days (fitted without them), plus the feature importances. The
model it returns is then refitted on the whole history so that it can forecast.

The cohort is built from ``daily_sales`` directly rather than from the capped panel, so
any shop x product can be trained even if it is not among the largest series.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pandas as pd

from retail_pipeline.forecasting.forest import RandomForestForecaster
from retail_pipeline.forecasting.metrics import mae, mse, r2, smape
from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.platform.registry import ModelRegistry, fingerprint_frame


class CohortUnavailable(ValueError):
    """The cohort has no sales, or too little history to hold out ``horizon`` days."""


@dataclass
class CohortResult:
    cohort: str
    level: str
    model: RandomForestForecaster  # fitted on the full history
    metrics: dict[str, float]  # on the held-out last `horizon` days
    importances: pd.DataFrame  # model, cohort, feature, importance
    holdout: pd.DataFrame  # series_id, ds, y, yhat, yhat_lower, yhat_upper (empty if reused)
    history: pd.DataFrame  # series_id, ds, y
    version: str = ""  # registry version ("" when not saved)
    reused: bool = False  # loaded from the registry instead of trained


def cohort_name(shop_id: str | None, product_id: str | None) -> tuple[str, str]:
    """``(cohort label, panel level)`` for a shop / product selection."""
    if shop_id and product_id:
        return f"shop={shop_id}|product={product_id}", "shop_product"
    if shop_id:
        return f"shop={shop_id}", "shop"
    if product_id:
        return f"product={product_id}", "product"
    return "total", "total"


def _cohort_history(daily_sales: pd.DataFrame, shop_id: str | None,
                    product_id: str | None) -> tuple[str, str, pd.DataFrame]:
    cohort, level = cohort_name(shop_id, product_id)
    rows = daily_sales
    if shop_id:
        rows = rows[rows["shop_id"].astype(str) == str(shop_id)]
    if product_id:
        rows = rows[rows["product_id"].astype(str) == str(product_id)]
    if rows.empty:
        raise CohortUnavailable(f"no sales for cohort {cohort}")
    panel = forecast_panel(rows, levels=[level], max_series_per_level=None)
    return cohort, level, panel[["series_id", "ds", "y"]].reset_index(drop=True)


def train_cohort_forest(daily_sales: pd.DataFrame, *, shop_id: str | None = None,
                        product_id: str | None = None, horizon: int = 30,
                        n_estimators: int = 200, train_days: int = 730,
                        random_state: int = 0) -> CohortResult:
    cohort, level, history = _cohort_history(daily_sales, shop_id, product_id)
    last = history["ds"].max()
    if history["ds"].nunique() <= 2 * horizon:
        raise CohortUnavailable(f"cohort {cohort} has {history['ds'].nunique()} days of history; "
                         f"need more than {2 * horizon} to hold out {horizon}")

    def forest():
        return RandomForestForecaster(horizon=horizon, train_days=train_days,
                                      n_estimators=n_estimators, max_train_rows=None,
                                      random_state=random_state)

    cut = last - pd.Timedelta(days=horizon)
    evaluated = forest().fit(history[history["ds"] <= cut])
    holdout = history[history["ds"] > cut].merge(evaluated.predict(horizon),
                                                 on=["series_id", "ds"])
    metrics = {"mse": mse(holdout["y"], holdout["yhat"]), "mae": mae(holdout["y"], holdout["yhat"]),
               "r2": r2(holdout["y"], holdout["yhat"]),
               "smape": smape(holdout["y"], holdout["yhat"]), "n_holdout_days": float(horizon)}
    model = forest().fit(history)
    importances = model.feature_importances()
    importances.insert(0, "cohort", cohort)
    importances.insert(0, "model", "random_forest")
    return CohortResult(cohort, level, model, metrics, importances, holdout, history)


def cohort_forest(daily_sales: pd.DataFrame, registry: ModelRegistry | None = None, *,
                  shop_id: str | None = None, product_id: str | None = None,
                  horizon: int = 30, n_estimators: int = 200,
                  force_retrain: bool = False) -> CohortResult:
    """``train_cohort_forest`` through the registry.

    The registry keeps one model name per cohort (``cohort_rf__<cohort>``). If its latest
    version was trained on exactly this cohort history with these settings, it is loaded
    and its recorded metrics are returned instead of training again, unless
    ``force_retrain``; otherwise the forest is trained and saved as a new version.
    """
    cohort, level, history = _cohort_history(daily_sales, shop_id, product_id)
    params = {"horizon": horizon, "n_estimators": n_estimators, "cohort": cohort}
    fingerprint = fingerprint_frame(history) + ":" + hashlib.sha256(
        json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    name = "cohort_rf__" + cohort.replace("|", "__").replace("=", "-")
    if registry is not None and not force_retrain:
        record = registry.latest(name)
        if record is not None and record.data_fingerprint == fingerprint:
            model = registry.load(record.version)
            importances = model.feature_importances()
            importances.insert(0, "cohort", cohort)
            importances.insert(0, "model", "random_forest")
            return CohortResult(cohort, level, model, dict(record.metrics), importances,
                                pd.DataFrame(), history, record.version, reused=True)
    result = train_cohort_forest(daily_sales, shop_id=shop_id, product_id=product_id,
                                 horizon=horizon, n_estimators=n_estimators)
    if registry is not None:
        record = registry.save(name, result.model, model_type="random_forest",
                               features=result.model.feature_names,
                               training_window=list(result.model.training_window or ()),
                               metrics=result.metrics, data_fingerprint=fingerprint,
                               params=params)
        result.version = record.version
    return result
