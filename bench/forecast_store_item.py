"""Benchmark: the pipeline's champion against Prophet and seasonal naive on store-item data.

Data: ``../shared/data/store_item_demand/train.csv.gz`` (500 store x item series, daily,
2013-01-01..2017-12-31) mapped onto ``daily_sales`` (shop_id = store, product_id = item,
quantity = sales) and through ``forecast_panel`` at the shop x product level with no
series cap.

Protocol: the last 90 days are held out. Every method sees only the data before them;
the champion is chosen by the pipeline's own rolling-origin backtest (3 folds of 90 days,
all before the holdout) and nothing about the holdout was used to tune any method. Each
method forecasts the 90 held-out days for all 500 series and is scored on them.

Wall time covers everything a method does after the data is loaded: for the champion,
the backtest of every candidate, the leaderboard, the choice, the conformal calibration,
the refit and the forecast. Every method may use both cores: Prophet fits series in two
worker processes (joblib), the tree models use two threads (OpenMP / joblib), seasonal
naive needs no parallelism.

Output: one line per method, ``method=NAME wall_s=X smape=Y mae=Z coverage80=W``, wall_s the
median of ``--repeat`` runs (default 3; the methods are deterministic, so only time varies),
then a comment line with the champion/Prophet wall-time ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retail_pipeline.forecasting.metrics import coverage, mae, smape  # noqa: E402
from retail_pipeline.forecasting.naive import SeasonalNaive  # noqa: E402
from retail_pipeline.forecasting.panel import forecast_panel  # noqa: E402
from retail_pipeline.forecasting.pipeline import ForecastSettings, run_forecast  # noqa: E402
from retail_pipeline.forecasting.prophet_model import ProphetForecaster  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "store_item_demand" / "train.csv.gz"
HOLDOUT_DAYS = 90


def load_panel(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, parse_dates=["date"])
    daily_sales = pd.DataFrame({
        "date": raw["date"], "shop_id": raw["store"].astype(str),
        "product_id": raw["item"].astype(str), "quantity": raw["sales"].astype(float),
    })
    return forecast_panel(daily_sales, levels=["shop_product"], max_series_per_level=None)


def line(name: str, wall: float, scored: pd.DataFrame) -> str:
    cov = coverage(scored["y"], scored["yhat_lower"], scored["yhat_upper"]) \
        if scored["yhat_lower"].notna().any() else float("nan")
    return (f"method={name} wall_s={wall:.1f} smape={smape(scored['y'], scored['yhat']):.2f} "
            f"mae={mae(scored['y'], scored['yhat']):.3f} coverage80={cov:.3f}")


def seasonal_naive(history: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    return "seasonal_naive", SeasonalNaive("year").fit(history).predict(HOLDOUT_DAYS)


def champion(train: pd.DataFrame, n_jobs: int) -> tuple[str, pd.DataFrame]:
    """Backtest every candidate, choose, calibrate, refit and forecast: all of it is timed."""
    result = run_forecast(train, ForecastSettings(horizon=HOLDOUT_DAYS, n_folds=3, n_jobs=n_jobs))
    board = result.leaderboard[result.leaderboard["scope"] == "level"]
    print(board[["model", "mase", "smape", "mae", "coverage80", "coverage80_conformal"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=sys.stderr)
    return f"champion:{result.champions['shop_product']}", result.forecast.rename(columns={"date": "ds"})


def prophet(history: pd.DataFrame, n_jobs: int) -> tuple[str, pd.DataFrame]:
    return "prophet", ProphetForecaster(interval=0.8, n_jobs=n_jobs).fit(history).predict(HOLDOUT_DAYS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n-jobs", type=int, default=2, help="processes/threads per method")
    parser.add_argument("--skip-prophet", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; wall time is their median")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results"
                        / "forecast_store_item.txt")
    args = parser.parse_args()

    panel = load_panel(args.data)
    cutoff = panel["ds"].max() - pd.Timedelta(days=HOLDOUT_DAYS)
    train = panel[panel["ds"] <= cutoff]
    actual = panel[panel["ds"] > cutoff][["series_id", "ds", "y"]]
    history = train[["series_id", "ds", "y"]]
    print(f"# {train['series_id'].nunique()} series, train {train['ds'].min().date()}.."
          f"{cutoff.date()}, holdout {HOLDOUT_DAYS} days to {panel['ds'].max().date()}; "
          f"{platform.node()} {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%MZ}",
          flush=True)

    methods = {"seasonal_naive": lambda: seasonal_naive(history)}
    methods["champion"] = lambda: champion(train, args.n_jobs)
    if not args.skip_prophet:
        methods["prophet"] = lambda: prophet(history, args.n_jobs)
    walls: dict[str, list[float]] = {name: [] for name in methods}
    predictions = {}
    for repeat in range(args.repeat):  # the methods are deterministic: only wall time varies
        for name, run in methods.items():
            start = time.perf_counter()
            label, pred = run()
            walls[name].append(time.perf_counter() - start)
            predictions[name] = (label, pred)
            print(f"# repeat {repeat + 1}/{args.repeat} {label} wall_s={walls[name][-1]:.1f}",
                  file=sys.stderr, flush=True)
    lines = []
    for name, (label, pred) in predictions.items():
        lines.append(line(label, statistics.median(walls[name]), actual.merge(pred, on=["series_id", "ds"])))
        print(lines[-1], flush=True)
    if "prophet" in walls:
        ratio = statistics.median(walls["champion"]) / statistics.median(walls["prophet"])
        print(f"# median of {args.repeat} runs each; champion/prophet wall ratio={ratio:.3f}", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
