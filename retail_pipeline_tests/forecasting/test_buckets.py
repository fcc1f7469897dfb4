"""The forecast partitioned into series buckets equals the unpartitioned forecast (issue 15)."""

import hashlib
import os
import subprocess
import sys

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.defs.forecasting import assets as fa
from retail_pipeline.defs.forecasting import partitioned as fp
from retail_pipeline.defs.io_manager import ParquetIOManager, ParquetIOManagerResource
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.forecasting.backtest import METRICS
from retail_pipeline.forecasting.buckets import (
    Champions,
    bucket_backtest,
    bucket_of,
    combine_backtests,
    plan_buckets,
    run_partitioned_forecast,
)
from retail_pipeline.forecasting.panel import forecast_panel, series_keys
from retail_pipeline.forecasting.pipeline import run_forecast
from retail_pipeline.forecasting.settings import ForecastSettings

from .conftest import make_sales

# Prophet (seconds per series) is left out to keep the tests fast; it is a per-series model
# like seasonal naive and Croston, which are in.
FAST = dict(horizon=14, n_jobs=1, prophet_max_series=0, forest_trees=10)


def blake_bucket(text: str, n: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") % n


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    sales, _ = make_sales(n_shops=2, n_products=5, n_days=800, seed=11)
    # one product sold in one shop only: its product series coincides with its shop x product
    # series (an alias), and a sparse one makes the intermittent models candidates
    rng = np.random.default_rng(3)
    days = pd.date_range("2021-01-01", periods=800, freq="D")
    sold = rng.random(800) < 0.2
    extra = pd.DataFrame({"date": days[sold], "shop_id": "S1", "product_id": "P9",
                          "quantity": rng.integers(1, 4, sold.sum()).astype(float),
                          "revenue": 1.0, "transaction_count": 1, "source": "synthetic"})
    return forecast_panel(pd.concat([sales, extra], ignore_index=True))


@pytest.fixture(scope="module")
def sample_panel(small_sample) -> pd.DataFrame:
    """The generated sample (the repo's small size: 4 shops, 25 products, two years)."""
    from retail_pipeline.contract import validate
    from retail_pipeline.sales.features import build_daily_sales

    from ..conftest import as_uploaded

    transactions = validate(as_uploaded(small_sample.transactions), "transactions")
    return forecast_panel(build_daily_sales(transactions))


def test_bucket_of_is_a_stable_hash_of_the_product_id():
    keys = pd.DataFrame({
        "level": ["total", "shop", "shop", *["product"] * 200, *["shop_product"] * 200],
        "product_id": [None, None, None, *[f"P{i}" for i in range(200)],
                       *[f"P{i}" for i in range(200)]],
    })
    keys["series_id"] = [
        "total", "shop=S1", "shop=S2", *[f"product=P{i}" for i in range(200)],
        *[f"shop=S{i % 3}|product=P{i}" for i in range(200)]]
    buckets = bucket_of(keys, 8)
    # every series in exactly one bucket, within range
    assert buckets.index.tolist() == keys["series_id"].tolist()
    assert buckets.between(0, 7).all()
    # the documented rule, computed here: product id, or the level name without a product
    expected = [blake_bucket(p if isinstance(p, str) else lv, 8)
                for lv, p in zip(keys["level"], keys["product_id"], strict=True)]
    assert buckets.tolist() == expected
    # a product's series and its shop x product series share a bucket; the shop level is whole
    assert (buckets[[f"product=P{i}" for i in range(200)]].to_numpy()
            == buckets[keys["series_id"].iloc[203:]].to_numpy()).all()
    assert buckets["shop=S1"] == buckets["shop=S2"]
    # balanced: 200 products over 8 buckets, 25 expected each
    counts = buckets[[f"product=P{i}" for i in range(200)]].value_counts()
    assert len(counts) == 8 and counts.min() >= 15 and counts.max() <= 35
    # the same buckets in another process with another string-hash seed
    code = ("import pandas as pd, sys; from retail_pipeline.forecasting.buckets import bucket_of; "
            "k = pd.read_json(sys.stdin, orient='records'); "
            "print(','.join(map(str, bucket_of(k, 8).tolist())))")
    out = subprocess.run([sys.executable, "-c", code], input=keys.to_json(orient="records"),
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == ",".join(map(str, expected))


def test_bucket_of_rejects_zero_buckets():
    with pytest.raises(ValueError, match="at least 1"):
        bucket_of(pd.DataFrame({"level": ["total"], "series_id": ["total"],
                                "product_id": [None]}), 0)


def _compare_boards(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    order = ["scope", "level", "series_id", "model"]
    a = expected.sort_values(order, na_position="first").reset_index(drop=True)
    b = actual.sort_values(order, na_position="first").reset_index(drop=True)
    assert a[order].fillna("").equals(b[order].fillna(""))
    for column in METRICS:
        assert np.allclose(a[column].to_numpy(float), b[column].to_numpy(float),
                           rtol=1e-9, atol=1e-12, equal_nan=True), column
    assert a["champion"].tolist() == b["champion"].tolist()
    assert a["rank"].tolist() == b["rank"].tolist()


def test_per_series_models_split_by_bucket_give_the_unpartitioned_leaderboard(panel):
    # flat Croston and TSB fit each series alone (the seasonal ones share the level's shape)
    settings = ForecastSettings(models=("seasonal_naive", "croston", "tsb"),
                                intermittent_seasonal=False, **FAST)
    expected = run_forecast(panel, settings)
    plan = plan_buckets(panel, settings, 4, pooling="bucket")
    assert not plan.pooled & set(settings.models)
    # every fitted series runs in exactly the bucket of its product
    errors = [bucket_backtest(plan, b) for b in range(4)]
    for b, part in enumerate(errors):
        assert set(plan.buckets[part["series_id"].unique()]) <= {b}
    assert sum(len(e) for e in errors) == len(expected.errors)
    combined = combine_backtests(plan, errors)
    _compare_boards(expected.leaderboard, combined.leaderboard)
    assert combined.champions == expected.champions
    # P9 is sold in one shop: its shop x product series repeats the product's, left out of both
    assert set(expected.aliases["series_id"]) == {"shop=S1|product=P9"}
    assert "shop=S1|product=P9" not in set(combined.errors["series_id"])
    assert "product=P9" in set(combined.errors["series_id"])


def _assert_same_forecast(expected, champions: Champions, forecast: pd.DataFrame) -> None:
    assert champions.champions == expected.champions
    for level, calibrator in expected.calibrators.items():
        got = champions.calibrators[level].quantiles
        assert got.keys() == calibrator.quantiles.keys()
        assert np.allclose([got[k] for k in got], [calibrator.quantiles[k] for k in got],
                           rtol=1e-12, atol=1e-12), level
        assert champions.bias_factors[level] == pytest.approx(expected.bias_factors[level],
                                                              rel=1e-12)
    order = ["level", "series_id", "date"]
    a = expected.forecast.sort_values(order).reset_index(drop=True)
    b = forecast.sort_values(order).reset_index(drop=True)
    assert a[order].equals(b[order])
    assert a[["shop_id", "product_id", "model"]].fillna("").equals(
        b[["shop_id", "product_id", "model"]].fillna(""))
    for column in ("yhat", "yhat_lower", "yhat_upper"):
        assert np.allclose(a[column], b[column], rtol=1e-9, atol=1e-9), column


def test_partitioned_forecast_equals_the_unpartitioned_one(sample_panel):
    settings = ForecastSettings(**FAST)
    expected = run_forecast(sample_panel, settings)
    result = run_partitioned_forecast(sample_panel, settings, 3)
    _assert_same_forecast(expected, result.champions, result.forecast)
    _compare_boards(expected.leaderboard, result.champions.leaderboard)
    # each pooled (level, model) pair ran once, on its whole level, in its owner bucket; the
    # seasonal Croston, SBA and TSB are pooled (the level's shape)
    assert {"croston", "sba", "tsb"} <= result.plan.pooled
    fitted = result.plan.fitted
    for (level, model), owner in result.plan.owners.items():
        assert model in result.plan.pooled
        for bucket, (errors, forecast) in enumerate(zip(result.bucket_errors,
                                                        result.bucket_forecasts, strict=True)):
            rows = errors[(errors["level"] == level) & (errors["model"] == model)]
            n_series = fitted.loc[fitted["level"] == level, "series_id"].nunique()
            assert rows["series_id"].nunique() == (n_series if bucket == owner else 0)
            if expected.champions[level] == model:  # the final fit too
                served = forecast[forecast["level"] == level]
                assert served["series_id"].nunique() == (n_series if bucket == owner else 0)
    assert len(set(result.plan.owners.values())) == min(3, len(result.plan.owners))


def _level_mase(board: pd.DataFrame) -> dict:
    rows = board[board["scope"] == "level"]
    return {(r.level, r.model): float(r.mase) for r in rows.itertuples()}


def test_bucket_pooling_fits_pooled_models_per_bucket(panel):
    settings = ForecastSettings(models=("seasonal_naive", "seasonal_profile"), **FAST)
    expected = _level_mase(run_forecast(panel, settings).leaderboard)
    plan = plan_buckets(panel, settings, 3, pooling="bucket")
    errors = [bucket_backtest(plan, b) for b in range(3)]
    got = _level_mase(combine_backtests(plan, errors).leaderboard)
    assert got.keys() == expected.keys()
    for (level, model), mase in expected.items():
        if model == "seasonal_naive" or level in ("total", "shop"):
            # per-series model, or a level kept whole in one bucket: the same series seen
            assert got[(level, model)] == pytest.approx(mase, rel=1e-12), (level, model)
    # the pooled profile of the split levels was fitted per bucket, on that bucket's series
    for bucket, part in enumerate(errors):
        rows = part[part["model"] == "seasonal_profile"]
        assert set(plan.buckets[rows["series_id"].unique()]) <= {bucket}


def test_partitioned_assets_materialise_every_bucket(tmp_path):
    sales, _ = make_sales(n_shops=2, n_products=4, n_days=800, seed=5)

    @dg.asset(name="daily_sales")
    def daily_sales_input() -> pd.DataFrame:
        return sales

    assets = [daily_sales_input, fa.forecast_panel, fp.forecast_bucket_backtest,
              fp.forecast_bucket_champions, fp.forecast_bucket_forecast,
              fp.sales_forecast_partitioned]
    db = tmp_path / "warehouse.db"
    resources = {"data_dir": DataDirResource(root=str(tmp_path / "data")),
                 "warehouse": WarehouseResource(url=f"sqlite:///{db}"),
                 "io_manager": ParquetIOManagerResource(base_path=str(tmp_path / "io"))}
    instance = dg.DagsterInstance.ephemeral()
    config = {k: v for k, v in FAST.items() if k != "forest_trees"}
    run_config = {"ops": {"forecast_bucket_backtest": {"config": config}}}

    def run(selection, partition_key=None):
        result = dg.materialize(assets, selection=selection, resources=resources,
                                instance=instance, partition_key=partition_key,
                                run_config=run_config if fp.forecast_bucket_backtest in selection
                                else None)
        assert result.success
        return result

    run([daily_sales_input, fa.forecast_panel])
    keys = fp.BUCKETS.get_partition_keys()
    for key in keys:
        run([fp.forecast_bucket_backtest], key)
    champions = run([fp.forecast_bucket_champions])
    for key in keys:
        run([fp.forecast_bucket_forecast], key)
    served = run([fp.sales_forecast_partitioned])

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        table = pd.read_sql_table("sales_forecast_partitioned", conn)
        board = pd.read_sql_table("forecast_leaderboard_partitioned", conn)
    engine.dispose()
    expected = run_forecast(forecast_panel(sales), ForecastSettings(**config))
    frame = champions.output_for_node("forecast_bucket_champions", "forecast_bucket_champions")
    _assert_same_forecast(expected, Champions.from_frame(frame),
                          served.output_for_node("sales_forecast_partitioned"))
    assert len(table) == len(expected.forecast)
    level_rows = board[(board["scope"] == "level") & board["champion"].astype(bool)]
    assert dict(zip(level_rows["level"], level_rows["model"], strict=True)) == expected.champions
    # every fitted series forecast once, every bucket materialised
    fitted = series_keys(forecast_panel(sales))
    assert set(table["series_id"]) == set(fitted["series_id"]) - set(expected.aliases["series_id"])
    assert not table.duplicated(["level", "series_id", "date"]).any()
    assert served.asset_materializations_for_node("sales_forecast_partitioned")[0].metadata[
        "buckets"].value == len(keys)


def test_all_buckets_in_one_run(tmp_path):
    from upath import UPath

    sales, _ = make_sales(n_shops=2, n_products=4, n_days=800, seed=5)

    @dg.asset(name="daily_sales")
    def daily_sales_input() -> pd.DataFrame:
        return sales

    db = tmp_path / "warehouse.db"
    config = {k: v for k, v in FAST.items() if k != "forest_trees"}
    keys = fp.BUCKETS.get_partition_keys()
    result = dg.materialize(
        [daily_sales_input, fa.forecast_panel, fp.forecast_bucket_backtest,
         fp.forecast_bucket_champions, fp.forecast_bucket_forecast, fp.sales_forecast_partitioned],
        resources={"data_dir": DataDirResource(root=str(tmp_path / "data")),
                   "warehouse": WarehouseResource(url=f"sqlite:///{db}"),
                   "io_manager": ParquetIOManager(base_path=UPath(tmp_path / "io"))},
        run_config={"ops": {"forecast_bucket_backtest": {"config": config}}},
        tags={"dagster/asset_partition_range_start": keys[0],
              "dagster/asset_partition_range_end": keys[-1]})
    assert result.success
    expected = run_forecast(forecast_panel(sales), ForecastSettings(**config))
    frame = result.output_for_node("forecast_bucket_champions", "forecast_bucket_champions")
    _assert_same_forecast(expected, Champions.from_frame(frame),
                          result.output_for_node("sales_forecast_partitioned"))
    # one file per bucket, as a run per bucket would have written
    stored = sorted(p.stem for p in (tmp_path / "io" / "forecast_bucket_forecast").iterdir())
    assert stored == sorted(keys)
