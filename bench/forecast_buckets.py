"""The forecast in series buckets: in process against Celery with 1 and 2 workers (issue 15).

Data: the sample generator at ``--transactions`` lines (default 1,000,000; shops, products and
customers as ``SampleSize.large()``), written straight into a table store; ``daily_sales`` and
``forecast_panel`` are materialised once, in process. Then the partitioned forecast
(``RETAIL_FORECAST_BUCKETS`` buckets, default 8) three ways, each as a backfill would run it:
one run per bucket for ``forecast_bucket_backtest``, one run for the champions, one run per
bucket for ``forecast_bucket_forecast``, one run for ``sales_forecast_partitioned``:

- ``in_process``: ``forecast_partitioned_job`` (in-process executor), the bucket runs one after
  the other;
- ``celery_1_worker`` / ``celery_2_workers``: ``forecast_partitioned_distributed``, the bucket
  runs submitted together (as many at a time as there are workers), each step a Celery task.

Every run is a process of its own (as the run launcher starts a backfill's runs), so every
variant pays the same few seconds of imports per run.

Printed per variant: wall time of each phase and in all, the summed step execution time from
the event log, and the overhead per step ((wall - in-process wall) / runs for the serial
variant); then the per-series cost that the estimate for 100,000 series in ``BENCHMARKS.md``
is built on. Needs RabbitMQ and PostgreSQL like ``bench/celery_overhead.py``, whose helpers it
uses.

    .venv/bin/python bench/forecast_buckets.py [--transactions 1000000]
"""

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from celery_overhead import DEPLOY, WORK, _start_workers, _stop, cluster_env  # noqa: E402


def _seed(data: Path, transactions: int) -> None:
    from dataclasses import replace

    from retail_pipeline.contract import validate
    from retail_pipeline.ingest.store import TableStore
    from retail_pipeline.platform.layout import DataLayout
    from retail_pipeline.sample import SampleSize, generate

    layout = DataLayout(data).ensure()
    store = TableStore(layout.store)
    size = replace(SampleSize.large(), transactions=transactions)
    for name, frame in generate(size, 42).tables().items():
        store.write(name, validate(frame.astype("str").where(frame.notna(), None), name))


def _execute(home: Path, job_name: str, asset: list[str], partition: str | None) -> tuple[float, float]:
    """One run in a process of its own, as Dagster's run launcher starts a backfill's runs:
    wall time (process start included) and the summed execution time of its steps."""
    import json
    import subprocess

    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--run", str(home), job_name, ",".join(asset), partition or ""],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{job_name} {asset} {partition} failed:\n{out.stderr[-3000:]}")
    steps = json.loads(out.stdout.strip().splitlines()[-1])["steps"]
    return time.perf_counter() - started, steps


def _run_one(home: str, job_name: str, assets: str, partition: str) -> None:
    """The child of ``_execute``: one run, then its summed step time as a JSON line."""
    import json

    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    job = ReconstructableRepository.for_module(
        "retail_pipeline.definitions", "defs", working_directory=str(ROOT)).get_reconstructable_job(job_name)
    tags = {"dagster/partition": partition} if partition else None
    with dg.DagsterInstance.from_config(home) as instance:
        keys = [dg.AssetKey(a) for a in assets.split(",")]
        with dg.execute_job(job, instance, asset_selection=keys, tags=tags) as result:
            assert result.success, f"{job_name} {assets} {partition} failed"
            run_id = result.run_id
        begin, steps = {}, 0.0
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None or record.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                begin[record.step_key] = record.timestamp
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                steps += record.timestamp - begin.get(record.step_key, record.timestamp)
    print(json.dumps({"steps": steps}))


def _variant(home: Path, job: str, buckets: list[str], parallel: int) -> dict:
    phases, step_time, runs = {}, 0.0, 0
    plan = [("backtest", ["forecast_bucket_backtest"], buckets),
            ("champions", ["forecast_bucket_champions", "forecast_leaderboard_partitioned"], [None]),
            ("forecast", ["forecast_bucket_forecast"], buckets),
            ("serve", ["sales_forecast_partitioned"], [None])]
    total = time.perf_counter()
    for phase, assets, keys in plan:
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            done = list(pool.map(lambda key, assets=assets: _execute(home, job, assets, key), keys))
        phases[phase] = time.perf_counter() - began
        step_time += sum(s for _, s in done)
        runs += len(done)
    return {"wall": time.perf_counter() - total, "phases": phases, "steps": step_time, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--run", nargs=4, metavar=("HOME", "JOB", "ASSETS", "PARTITION"),
                        help="internal: execute one run (the child process of a measurement)")
    args = parser.parse_args()
    if args.run:
        _run_one(*args.run)
        return
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    data = WORK / "data"
    t0 = time.perf_counter()
    _seed(data, args.transactions)
    print(f"# seeded {args.transactions:,} transactions in {time.perf_counter() - t0:.0f} s", flush=True)
    with cluster_env(data) as (queue, env):
        _measure(args.transactions, queue, env)


def _measure(transactions: int, queue: str, env: dict) -> None:
    import dagster as dg
    import pandas as pd

    from retail_pipeline.definitions import defs
    from retail_pipeline.defs.forecasting.partitioned import BUCKETS

    home = WORK / "launcher"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    # with every raw table, so that the checks on raw_transactions can read theirs
    upstream = ((dg.AssetSelection.assets("forecast_panel").upstream() | dg.AssetSelection.groups("ingest"))
                - dg.AssetSelection.groups("uploads"))
    t0 = time.perf_counter()
    _execute_upstream(home, upstream.resolve(defs().resolve_asset_graph()))
    print(f"# daily_sales and forecast_panel in {time.perf_counter() - t0:.0f} s", flush=True)
    series = pd.read_parquet(WORK / "io" / "forecast_panel.parquet")["series_id"].nunique()
    buckets = BUCKETS.get_partition_keys()
    results = {}
    for variant, workers_count in (("in_process", 0), ("celery_1_worker", 1), ("celery_2_workers", 2)):
        workers = []
        try:
            if workers_count:
                workers, _ = _start_workers(workers_count, queue, env)
            job = "forecast_partitioned_distributed" if workers_count else "forecast_partitioned_job"
            results[variant] = _variant(home, job, buckets, workers_count)
        finally:
            _stop(workers)
        r = results[variant]
        overhead = (r["wall"] - results["in_process"]["wall"]) / r["runs"]
        print(f"variant={variant} transactions={transactions} series={series} buckets={len(buckets)} "
              f"runs={r['runs']} wall_s={r['wall']:.1f} step_time_s={r['steps']:.1f} "
              + " ".join(f"{p}_s={v:.1f}" for p, v in r["phases"].items())
              + f" overhead_per_run_s={overhead:.2f}", flush=True)
    base = results["in_process"]
    print(f"per_series_step_s={base['steps'] / series:.4f} series={series} "
          f"bucket_backtest_mean_s={base['phases']['backtest'] / len(buckets):.2f}")


def _execute_upstream(home: Path, keys) -> None:
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    job = ReconstructableRepository.for_module(
        "retail_pipeline.definitions", "defs", working_directory=str(ROOT)).get_reconstructable_job("refresh_all")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with dg.execute_job(job, instance, asset_selection=list(keys)) as result:
            assert result.success, "daily_sales / forecast_panel failed"


if __name__ == "__main__":
    main()
