"""Which executor should `refresh_all` use? Time the whole refresh with each.

Runs the refresh graph on the default sample data set with (a) the in-process executor,
(b) the default multiprocess executor (spawn: one fresh interpreter per step), and
(c) multiprocess with forkserver and the heavy modules preloaded. Median of --runs runs each.
Prints one line per executor and, last, `in_process_s=X multiprocess_s=Y forkserver_s=Z`.

    .venv/bin/python bench/executor_choice.py [--runs 3]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retail_pipeline.contract import validate  # noqa: E402
from retail_pipeline.definitions import defs  # noqa: E402
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource  # noqa: E402
from retail_pipeline.ingest.store import TableStore  # noqa: E402
from retail_pipeline.platform.layout import DataLayout  # noqa: E402
from retail_pipeline.sample import SampleSize, generate  # noqa: E402

WORK = Path(tempfile.gettempdir()) / "retail_bench_executor"
SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("uploads", "forecasting_partitioned")
PRELOAD = ["pandas", "sklearn.ensemble", "prophet", "seaborn", "retail_pipeline.definitions"]


def _job(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    d = defs()
    layout = DataLayout(WORK / "data")
    return dg.Definitions(
        assets=d.assets, asset_checks=d.asset_checks,
        resources={"data_dir": DataDirResource(root=str(layout.root)),
                   "warehouse": WarehouseResource(url=f"sqlite:///{layout.root / 'warehouse.db'}")},
        jobs=[dg.define_asset_job("bench_refresh", selection=SELECTION, executor_def=executor)],
    ).resolve_job_def("bench_refresh")


def in_process_job():
    return _job(dg.in_process_executor)


def multiprocess_job():
    return _job(dg.multiprocess_executor)


def _seed() -> None:
    layout = DataLayout(WORK / "data").ensure()
    store = TableStore(layout.store)
    for name, frame in generate(SampleSize(), 42).tables().items():
        store.write(name, validate(frame.astype("str").where(frame.notna(), None), name))


def _time(job_fn, run_config: dict | None) -> float:
    with dg.DagsterInstance.local_temp(tempdir=tempfile.mkdtemp(dir=WORK)) as instance:
        start = time.perf_counter()
        result = dg.execute_job(dg.reconstructable(job_fn), instance=instance, run_config=run_config)
        elapsed = time.perf_counter() - start
        assert result.success, "refresh failed"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    _seed()
    forkserver = {"execution": {"config": {"start_method": {"forkserver": {"preload_modules": PRELOAD}}}}}
    variants = {
        "in_process": (in_process_job, None),
        "multiprocess": (multiprocess_job, None),
        "forkserver": (multiprocess_job, forkserver),
    }
    medians = {}
    for name, (job_fn, config) in variants.items():
        times = [_time(job_fn, config) for _ in range(args.runs)]
        medians[name] = statistics.median(times)
        print(f"executor={name} runs={args.runs} median_s={medians[name]:.1f} "
              f"all_s={','.join(f'{t:.1f}' for t in times)}", flush=True)
    print(" ".join(f"{k}_s={v:.1f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
