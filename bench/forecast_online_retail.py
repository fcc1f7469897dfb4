"""Benchmark: the champion against seasonal naive and Prophet on real, spiky retail demand.

Data: ``../shared/data/online_retail/online_retail_II_2009_2010.csv.gz`` (UCI Online Retail
II, one UK online shop, 2009-12-01..2010-12-09). Daily *net* units (sales minus returns and
cancellations) per product, mapped onto ``daily_sales`` (the pipeline's default demand,
issue 10; a series-day whose net units are negative counts as 0, as ``forecast_panel``
does for the models, so the actuals are scored on the same basis: at the product level
the header line's product-days, at the total no day of this data) (one shop; product = StockCode;
country = the most frequent ``Country``, so the models get the UK's public holidays) and
through ``forecast_panel`` at two levels: the total (all products) and the 200 products with
the most net units before the holdout.

Protocol: two holdout periods of 28 days, ending 2010-12-09 (the run-up to Christmas, the
period issue 11 found the old champion 37% short on) and 2010-11-01. For each, every method
sees only the data before the period; the champion is chosen by the pipeline's own
rolling-origin backtest (3 folds of 28 days, all before the period) and nothing about the
holdout was used to tune anything.

Metrics per level: MASE (MAE over the in-sample MAE of same-weekday-last-week on the
training data, averaged over series), MAE in units, bias as % of actual units
(``100 sum(yhat - y) / sum(y)``) and the share of actuals inside the 80% interval.

Output: one line per method, level and period,
``method=NAME period=END wall_s=X mase=Y mae=Z bias_pct=W coverage80=V``, where NAME is
``seasonal_naive``, ``prophet`` (total only) or ``champion:<model>``, followed by
``@total`` or ``@product``; wall_s is the median of ``--repeat`` runs of the whole method
(the champion's covers backtest, choice, calibration, refit and forecast of both levels).
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

from retail_pipeline.forecasting.events import country_of  # noqa: E402
from retail_pipeline.forecasting.metrics import bias_pct, coverage, mae, naive_scale  # noqa: E402
from retail_pipeline.forecasting.naive import SeasonalNaive  # noqa: E402
from retail_pipeline.forecasting.panel import forecast_panel  # noqa: E402
from retail_pipeline.forecasting.pipeline import (  # noqa: E402
    ForecastSettings,
    run_forecast,
    settings_calendar,
)
from retail_pipeline.forecasting.prophet_model import ProphetForecaster  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail_II_2009_2010.csv.gz"
PERIOD_ENDS = ("2010-12-09", "2010-11-01")
HORIZON = 28
TOP_PRODUCTS = 200


def load_daily_sales(path: Path) -> pd.DataFrame:
    """Net units per day and product (returns and cancellations subtract), with country."""
    raw = pd.read_csv(path, usecols=["StockCode", "Quantity", "InvoiceDate", "Country"],
                      dtype={"StockCode": str, "Country": str})
    raw["date"] = pd.to_datetime(raw["InvoiceDate"]).dt.normalize()
    daily = raw.groupby(["date", "StockCode"], sort=False).agg(
        quantity=("Quantity", "sum"), country=("Country", lambda c: c.mode().iat[0]))
    daily = daily.reset_index().rename(columns={"StockCode": "product_id"})
    daily["shop_id"] = "online"
    daily["quantity"] = daily["quantity"].astype(float)
    return daily


def period_panel(daily: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Total and top-200 product series up to ``end`` (products ranked before the holdout)."""
    data = daily[daily["date"] <= end]
    cutoff = end - pd.Timedelta(days=HORIZON)
    ranked = (data[data["date"] <= cutoff].groupby("product_id")["quantity"].sum()
              .sort_values(ascending=False, kind="stable"))
    top = set(ranked.index[:TOP_PRODUCTS])
    total = forecast_panel(data, levels=["total"])
    products = forecast_panel(data[data["product_id"].isin(top)], levels=["product"],
                              max_series_per_level=None)
    return pd.concat([total, products], ignore_index=True)


def line(name: str, end: str, wall: float, scored: pd.DataFrame, scale: pd.Series) -> str:
    cov = coverage(scored["y"], scored["yhat_lower"], scored["yhat_upper"]) \
        if scored["yhat_lower"].notna().any() else float("nan")
    per_series = (scored["y"] - scored["yhat"]).abs().groupby(scored["series_id"]).mean()
    mase = float((per_series / scale.reindex(per_series.index)).mean())
    return (f"method={name} period={end} wall_s={wall:.1f} mase={mase:.3f} "
            f"mae={mae(scored['y'], scored['yhat']):.2f} "
            f"bias_pct={bias_pct(scored['y'], scored['yhat']):+.1f} coverage80={cov:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n-jobs", type=int, default=2, help="threads for the champion")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per method; wall time is their median")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results"
                        / "forecast_online_retail.txt")
    args = parser.parse_args()

    daily = load_daily_sales(args.data)
    country = country_of(daily, None)
    negative = daily["quantity"] < 0
    print(f"# UCI Online Retail II, {daily['date'].min().date()}..{daily['date'].max().date()}, "
          f"country {country}; {int(negative.sum())} product-days with negative net units "
          f"({-daily.loc[negative, 'quantity'].sum():.0f} units) count as 0 at the product level; "
          f"{platform.node()} {os.cpu_count()} cores, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%MZ}", flush=True)
    settings = ForecastSettings(horizon=HORIZON, n_folds=3, n_jobs=args.n_jobs)
    calendar = settings_calendar(settings, country)
    lines = []
    for end in PERIOD_ENDS:
        end_ts = pd.Timestamp(end)
        panel = period_panel(daily, end_ts)
        cutoff = end_ts - pd.Timedelta(days=HORIZON)
        train = panel[panel["ds"] <= cutoff]
        actual = panel[panel["ds"] > cutoff][["level", "series_id", "ds", "y"]]
        scale = naive_scale(train[["series_id", "ds", "y"]])
        total = train[train["level"] == "total"][["series_id", "ds", "y"]]

        def champion(train=train):
            result = run_forecast(train, settings, calendar=calendar)
            board = result.leaderboard[result.leaderboard["scope"] == "level"]
            print(board[["level", "model", "mase", "bias_pct", "mae", "coverage80_conformal",
                         "champion"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"),
                  file=sys.stderr)
            fc = result.forecast.rename(columns={"date": "ds"})
            return {level: (f"champion:{model}", fc[fc["level"] == level])
                    for level, model in result.champions.items()}

        def seasonal_naive(train=train):
            out = {}
            for level, part in train.groupby("level"):
                pred = SeasonalNaive("year").fit(part[["series_id", "ds", "y"]]).predict(HORIZON)
                out[level] = ("seasonal_naive", pred)
            return out

        def prophet(total=total):
            pred = ProphetForecaster(calendar=calendar).fit(total).predict(HORIZON)
            return {"total": ("prophet", pred)}

        methods = {"seasonal_naive": seasonal_naive, "champion": champion, "prophet": prophet}
        walls = {name: [] for name in methods}
        results = {}
        for repeat in range(args.repeat):
            for name, run in methods.items():
                start = time.perf_counter()
                results[name] = run()
                walls[name].append(time.perf_counter() - start)
                print(f"# {end} repeat {repeat + 1}/{args.repeat} {name} "
                      f"wall_s={walls[name][-1]:.1f}", file=sys.stderr, flush=True)
        for name, by_level in results.items():
            for level in ("total", "product"):
                if level not in by_level:
                    continue
                label, pred = by_level[level]
                scored = actual[actual["level"] == level].merge(
                    pred[["series_id", "ds", "yhat", "yhat_lower", "yhat_upper"]],
                    on=["series_id", "ds"])
                lines.append(line(f"{label}@{level}", end, statistics.median(walls[name]),
                                  scored, scale))
                print(lines[-1], flush=True)
    print(f"# wall_s: median of {args.repeat} runs per method and period", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
