"""What does the Celery executor cost? The sales and analytics part of the graph, three ways.

The `sales` and `analytics` groups and the `raw_*` tables they read (the steps of
`refresh_all` that every other domain builds on), on the default sample, run by
(a) `refresh_all` (in process), (b) `refresh_all_distributed` with 1 Celery worker and
(c) with 2 workers, all on this machine. Every variant uses the same PostgreSQL database for the
Dagster instance and the warehouse and the same data folder, so what differs is the executor.
Workers are started once per variant and kept warm (like a cluster's long-lived workers): the
first, cold run is reported apart and the median is over the --runs warm runs after it.

Per step: `overhead_per_step_s` = (median wall time - in-process median) / steps; and, from the
event log, the median time a step waited between its Celery submission and its start in a
worker (`dispatch_median_s`) and its median execution time inside the worker (`step_median_s`).

Needs RabbitMQ (RETAIL_CELERY_BROKER) and PostgreSQL (RETAIL_TEST_PG_URL: a database is created
and dropped). Prints one line per variant, and last a summary line.

    .venv/bin/python bench/celery_overhead.py [--runs 3] [--transactions 120000]
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy" / "celery"
WORK = Path(tempfile.gettempdir()) / "retail_bench_celery"


def _seed(data: Path, transactions: int) -> None:
    from retail_pipeline.contract import validate
    from retail_pipeline.ingest.store import TableStore
    from retail_pipeline.platform.layout import DataLayout
    from retail_pipeline.sample import SampleSize, generate

    layout = DataLayout(data).ensure()
    store = TableStore(layout.store)
    size = replace(SampleSize(), transactions=transactions)
    for name, frame in generate(size, 42).tables().items():
        store.write(name, validate(frame.astype("str").where(frame.notna(), None), name))


def _start_workers(count: int, queue: str, env: dict) -> tuple[list[subprocess.Popen], list[str]]:
    workers, hostnames = [], []
    for i in range(count):
        name = f"{queue}_{count}w{i}"
        folder = WORK / name
        folder.mkdir()
        shutil.copy(DEPLOY / "dagster.yaml", folder / "dagster.yaml")
        log = open(folder / "worker.log", "w")  # noqa: SIM115 - the worker keeps it open
        workers.append(subprocess.Popen(
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(DEPLOY / "celery.yaml"), "-q", queue, "-n", name, "--", "--concurrency=1"],
            cwd=folder, env={**env, "DAGSTER_HOME": str(folder)}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))
        hostnames.append(f"{name}@{socket.gethostname()}")
    from celery import Celery

    app = Celery(broker=env["RETAIL_CELERY_BROKER"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if any(w.poll() is not None for w in workers):
            raise SystemExit(f"a worker exited; see {WORK}/{queue}_*/worker.log")
        replies = app.control.ping(destination=hostnames, timeout=1.0)
        if {name for reply in replies for name in reply} >= set(hostnames):
            app.close()
            return workers, hostnames
        time.sleep(1)
    raise SystemExit(f"workers did not answer within 180 s; see {WORK}/{queue}_*/worker.log")


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def _run(instance, job_name: str, keys) -> tuple[float, list[float], list[float]]:
    """Wall time of one run, and per step: dispatch wait and execution time (from the event log)."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    job = ReconstructableRepository.for_module(
        "retail_pipeline.definitions", "defs", working_directory=str(ROOT),
    ).get_reconstructable_job(job_name)
    start = time.perf_counter()
    with dg.execute_job(job, instance, asset_selection=list(keys)) as result:
        assert result.success, f"{job_name} failed"
        run_id = result.run_id
    wall = time.perf_counter() - start
    submitted, started, finished = {}, {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key is None:
            continue
        if event.is_engine_event and (event.message or "").startswith("Submitting celery task"):
            submitted[record.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_START:
            started[record.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            finished[record.step_key] = record.timestamp
    dispatch = [started[k] - submitted[k] for k in started if k in submitted]
    execution = [finished[k] - started[k] for k in finished if k in started]
    return wall, dispatch, execution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm runs per variant")
    parser.add_argument("--transactions", type=int, default=120_000)
    args = parser.parse_args()


    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    data = WORK / "data"
    _seed(data, args.transactions)
    with cluster_env(data) as (queue, env):
        _measure(args, queue, env)


@contextmanager
def cluster_env(data: Path) -> Iterator[tuple[str, dict]]:
    """A database of its own (created, then dropped), a queue of its own (deleted at the end),
    and the environment the launcher and the workers share; the variables are also set here."""
    from kombu import Connection

    from retail_pipeline.platform import settings

    admin = sa.create_engine(settings.test_pg_url(), isolation_level="AUTOCOMMIT")
    database = f"retail_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    url = sa.make_url(settings.test_pg_url()).set(database=database).render_as_string(hide_password=False)
    queue = f"retail_bench_{uuid.uuid4().hex[:8]}"
    env = {"DAGSTER_POSTGRES_URL": url, "RETAIL_DATA_DIR": str(data), "RETAIL_WAREHOUSE_URL": url,
           "RETAIL_IO_BASE": str(WORK / "io"), "RETAIL_CELERY_BROKER": settings.celery_broker(),
           "RETAIL_CELERY_BACKEND": settings.celery_backend(), "RETAIL_CELERY_QUEUE": queue,
           "RETAIL_MODEL_REGISTRY_KEY_FILE": str(WORK / "registry.key")}
    os.environ.update(env)
    try:
        yield queue, {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    finally:
        with Connection(settings.celery_broker(), connect_timeout=3) as conn:
            conn.default_channel.queue_delete(queue)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def _measure(args, queue: str, env: dict) -> None:
    import dagster as dg

    from retail_pipeline.definitions import defs

    part = dg.AssetSelection.groups("sales", "analytics")
    selection = part | (part.upstream(depth=1) & dg.AssetSelection.groups("ingest"))
    keys = selection.resolve(defs().resolve_asset_graph())
    home = WORK / "launcher"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    results = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for variant, workers_count in (("in_process", 0), ("celery_1_worker", 1), ("celery_2_workers", 2)):
            workers = []
            try:
                if workers_count:
                    workers, _ = _start_workers(workers_count, queue, env)
                job = "refresh_all_distributed" if workers_count else "refresh_all"
                cold = _run(instance, job, keys)
                warm = [_run(instance, job, keys) for _ in range(args.runs)]
            finally:
                _stop(workers)
                shutil.rmtree(WORK / "io", ignore_errors=True)
            walls = [w for w, _, _ in warm]
            steps = len(warm[0][2])
            dispatch = [d for _, ds, _ in warm for d in ds]
            execution = [e for _, _, es in warm for e in es]
            results[variant] = statistics.median(walls)
            overhead = (results[variant] - results["in_process"]) / steps
            print(f"variant={variant} transactions={args.transactions} steps={steps} "
                  f"cold_s={cold[0]:.1f} median_s={results[variant]:.1f} "
                  f"all_s={','.join(f'{w:.1f}' for w in walls)} overhead_per_step_s={overhead:.2f} "
                  f"dispatch_median_s={statistics.median(dispatch) if dispatch else 0:.2f} "
                  f"step_median_s={statistics.median(execution):.2f}", flush=True)
    print(" ".join(f"{k}_s={v:.1f}" for k, v in results.items()))


if __name__ == "__main__":
    main()
