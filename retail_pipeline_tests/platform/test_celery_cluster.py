"""The Celery cluster for real: two workers, a PostgreSQL instance and RabbitMQ.

Each worker runs in its own process group and working folder (its own DAGSTER_HOME copy of
``deploy/celery/dagster.yaml``); what the workers share with the launcher (this test) is what
machines of a cluster share: the PostgreSQL database (Dagster instance and warehouse), the
broker, the IO base path, and the data folder whose store the ``raw_*`` assets read. Steps go
to a queue of this test's own, so parallel test runs on the same broker cannot take each
other's tasks.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from celery import Celery
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster_celery.executor import celery_executor
from kombu import Connection

from retail_pipeline.definitions import defs
from retail_pipeline.platform import settings
from retail_pipeline.platform.warehouse import Warehouse
from retail_pipeline_tests import pipeline

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "celery"
BIN = Path(sys.executable).parent
# The sales and analytics groups and the raw_* tables they read: parallel steps (four raw
# tables, then six KPI tables and two charts) that write to the warehouse.
PART = dg.AssetSelection.groups("sales", "analytics")
SELECTION = PART | (PART.upstream(depth=1) & dg.AssetSelection.groups("ingest"))


def _broker_reachable(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except (OSError, Exception):  # kombu raises its own OperationalError subclasses
        return False


@pytest.fixture
def broker() -> str:
    url = settings.celery_broker()
    if not _broker_reachable(url):
        if settings.on_ci():
            pytest.fail(f"the Celery broker {url} is not reachable and CI=true")
        pytest.skip(f"the Celery broker {url} is not reachable")
    return url


def _served_tables(result: dg.ExecuteInProcessResult) -> list[str]:
    tables = []
    for event in result.get_asset_materialization_events():
        table = event.materialization.metadata.get("warehouse_table")
        if table is not None:
            tables.append(table.value)
    return sorted(tables)


def _read_sorted(warehouse: Warehouse, table: str) -> pd.DataFrame:
    frame = warehouse.read_table(table)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _start_worker(name: str, folder: Path, env: dict, queue: str) -> subprocess.Popen:
    folder.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", folder / "dagster.yaml")
    log = open(folder / "worker.log", "w")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
         "-y", str(DEPLOY / "celery.yaml"), "-q", queue, "-n", name, "--", "--concurrency=1"],
        cwd=folder, env={**env, "DAGSTER_HOME": str(folder)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_ready(broker: str, nodes: list[str], workers: list[subprocess.Popen],
                      logs: list[Path], timeout: float = 120) -> None:
    app = Celery(broker=broker)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for worker, log in zip(workers, logs, strict=True):
                if worker.poll() is not None:
                    raise AssertionError(f"worker exited with {worker.returncode}:\n{log.read_text()[-3000:]}")
            answered = {name for reply in app.control.ping(destination=nodes, timeout=1.0) for name in reply}
            if answered >= set(nodes):
                return
            time.sleep(1)
    finally:
        app.close()
    tails = "\n".join(log.read_text()[-2000:] for log in logs)
    raise AssertionError(f"workers {nodes} did not answer within {timeout} s:\n{tails}")


def _cluster_env(postgres_url: str, broker: str, layout, tmp_path: Path, monkeypatch) -> tuple[str, Path, dict]:
    """A queue of the test's own, the shared IO folder, and the environment the workers and
    this process share (what the machines of a cluster share)."""
    queue = f"retail_test_{uuid.uuid4().hex[:10]}"
    shared_io = tmp_path / "shared_io"
    shared = {"DAGSTER_POSTGRES_URL": postgres_url, "RETAIL_DATA_DIR": str(layout.root),
              "RETAIL_WAREHOUSE_URL": postgres_url, "RETAIL_IO_BASE": str(shared_io),
              "RETAIL_CELERY_BROKER": broker, "RETAIL_CELERY_BACKEND": settings.celery_backend(),
              "RETAIL_CELERY_QUEUE": queue}
    for name, value in shared.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, **shared, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return queue, shared_io, env


@contextmanager
def _two_workers(tmp_path: Path, env: dict, queue: str, broker: str, job_name: str):
    """The launcher's instance (it creates Dagster's tables before any worker opens the
    database), two workers answering on the queue, and the job to run; yields
    (instance, job, worker logs, worker host names). Stops the workers and deletes the queue."""
    launcher_home = tmp_path / "launcher"
    launcher_home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", launcher_home / "dagster.yaml")
    workers, logs = [], []
    nodes = [f"{queue}_a", f"{queue}_b"]
    with dg.DagsterInstance.from_config(str(launcher_home)) as instance:
        try:
            for node in nodes:
                folder = tmp_path / node
                workers.append(_start_worker(node, folder, env, queue))
                logs.append(folder / "worker.log")
            hostnames = [f"{node}@{socket.gethostname()}" for node in nodes]
            _wait_until_ready(broker, hostnames, workers, logs)
            job = ReconstructableRepository.for_module(
                "retail_pipeline.definitions", "defs", working_directory=str(ROOT),
            ).get_reconstructable_job(job_name)
            yield instance, job, logs, hostnames
        finally:
            for worker in workers:
                _stop(worker)
            _delete_queue(broker, queue)


def _delete_queue(broker: str, queue: str) -> None:
    with Connection(broker, connect_timeout=3) as conn:
        conn.default_channel.queue_delete(queue)


def test_worker_config_is_valid_executor_config(monkeypatch):
    """celery.yaml is the executor's own config block and resolves to the settings' values."""
    from dagster._config import post_process_config, validate_config

    monkeypatch.setenv("RETAIL_CELERY_BROKER", "pyamqp://u:p@broker.example:5672//")
    monkeypatch.setenv("RETAIL_CELERY_BACKEND", "redis://cache.example:6379/0")
    block = yaml.safe_load((DEPLOY / "celery.yaml").read_text())["execution"]["config"]
    config_type = celery_executor.config_schema.config_type
    assert validate_config(config_type, block).success
    resolved = post_process_config(config_type, block).value
    assert resolved["broker"] == settings.celery_broker() == "pyamqp://u:p@broker.example:5672//"
    assert resolved["backend"] == settings.celery_backend() == "redis://cache.example:6379/0"


def test_cluster_instance_keeps_the_run_queue_limits():
    home = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    cluster = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert cluster["concurrency"]["runs"] == home["concurrency"]["runs"]
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert cluster[storage]["module"].startswith("dagster_postgres")
        assert cluster[storage]["config"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}


# dagster_celery registers its task again for every step it submits; Celery warns each time.
@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_refresh_on_two_celery_workers_equals_in_process(postgres_url, broker, seeded_layout,
                                                         tmp_path, monkeypatch):
    queue, shared_io, env = _cluster_env(postgres_url, broker, seeded_layout, tmp_path, monkeypatch)

    # The reference: the same assets in process, into the same warehouse.
    definitions = defs()
    keys = SELECTION.resolve(definitions.resolve_asset_graph())
    assert {k.path[0] for k in keys} >= {"raw_transactions", "sales_features", "daily_sales", "kpi_summary"}
    reference_run = dg.materialize([*definitions.assets, *definitions.asset_checks], selection=SELECTION,
                                   resources=pipeline.test_resources(seeded_layout, postgres_url))
    assert reference_run.success
    tables = _served_tables(reference_run)
    assert "daily_sales" in tables and "kpi_summary" in tables
    warehouse = Warehouse(postgres_url)
    expected = {t: _read_sorted(warehouse, t) for t in tables}
    with warehouse.engine.begin() as conn:  # the cluster run must write them anew
        for table in tables:
            conn.execute(sa.text(f'DROP TABLE "{table}"'))

    with _two_workers(tmp_path, env, queue, broker, "refresh_all_distributed") as (instance, job, logs, hostnames):
        with dg.execute_job(job, instance, asset_selection=list(keys), raise_on_error=False) as result:
            run_id = result.run_id
            success = result.success
        records = instance.all_logs(run_id)
        worker_logs = "\n".join(log.read_text()[-3000:] for log in logs)
        assert success, f"the distributed run failed; worker logs:\n{worker_logs}"
        run = instance.get_run_by_id(run_id)
        assert run.tags["retail_pipeline/writes"] == "warehouse"

    # Same tables as in process.
    for table in tables:
        pd.testing.assert_frame_equal(_read_sorted(warehouse, table), expected[table], check_like=True)
    warehouse.dispose()

    # Every step ran in a Celery worker, and both workers took part.
    worker_of_step = {}
    for record in records:
        event = record.dagster_event
        if event is not None and event.is_engine_event and record.step_key:
            entries = event.engine_event_data.metadata
            if "Celery worker" in entries:
                worker_of_step[record.step_key] = entries["Celery worker"].value
    started = {r.step_key: r.dagster_event.pid for r in records
               if r.dagster_event is not None and r.dagster_event.event_type == dg.DagsterEventType.STEP_START}
    assert set(started) == set(worker_of_step)
    assert {k.path[0] for k in keys} <= set(started)
    assert os.getpid() not in set(started.values())
    assert set(worker_of_step.values()) == set(hostnames), worker_of_step
    pids_by_worker = {}
    for step, host in worker_of_step.items():
        pids_by_worker.setdefault(host, set()).add(started[step])
    assert pids_by_worker[hostnames[0]].isdisjoint(pids_by_worker[hostnames[1]])


def test_make_workers_uses_the_settings_and_one_process_group_each():
    env = {**os.environ, "DAGSTER_POSTGRES_URL": "postgresql+psycopg2://u@db.example/dagster",
           "RETAIL_CELERY_QUEUE": "cluster_q", "RETAIL_CELERY_BROKER": "pyamqp://u:p@mq.example//"}
    env.pop("RETAIL_CELERY_BACKEND", None)
    out = subprocess.run(["make", "-n", "-o", "install", "workers", "N=3"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "RETAIL_CELERY_BROKER='pyamqp://u:p@mq.example//'" in out
    assert f"RETAIL_CELERY_BACKEND='{settings.SETTINGS['RETAIL_CELERY_BACKEND'].default}'" in out
    assert "queue='cluster_q'" in out and "seq 1 3" in out
    assert "setsid " in out and "-y \"" + str(DEPLOY / "celery.yaml") + "\"" in out
    dev = subprocess.run(["make", "-n", "-o", "bootstrap", "dev-celery"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert f'DAGSTER_HOME="{DEPLOY}" .venv/bin/dg dev --host' in dev


FORECAST_CONFIG = {"ops": {"forecast_bucket_backtest": {"config": {
    "horizon": 14, "n_jobs": 1, "n_folds": 2, "prophet_max_series": 0, "forest_max_series": 0}}}}
VOLATILE = ["created_at", "id", "run_id"]  # when a row was written, not what it says


def _forecast_tables(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    out = {}
    for table in ("sales_forecast_partitioned", "forecast_leaderboard_partitioned"):
        frame = warehouse.read_table(table).drop(columns=VOLATILE, errors="ignore")
        out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_partitioned_forecast_on_two_celery_workers_equals_in_process(postgres_url, broker, seeded_layout,
                                                                     tmp_path, monkeypatch):
    """Every bucket's backtest and forecast is a run of its own (a backfill); RabbitMQ hands the
    steps of consecutive runs to the two workers in turn."""
    from retail_pipeline.defs.forecasting import partitioned as fp
    from retail_pipeline.defs.io_manager import ParquetIOManagerResource

    queue, shared_io, env = _cluster_env(postgres_url, broker, seeded_layout, tmp_path, monkeypatch)
    definitions = defs()
    assets = [*definitions.assets]
    resources = {**pipeline.test_resources(seeded_layout, postgres_url),
                 "io_manager": ParquetIOManagerResource(base_path=str(shared_io))}
    instance = dg.DagsterInstance.ephemeral()
    upstream = dg.AssetSelection.assets("forecast_panel").upstream() - dg.AssetSelection.groups("uploads")
    assert dg.materialize(assets, selection=upstream, resources=resources, instance=instance).success
    keys = fp.BUCKETS.get_partition_keys()
    steps = [("forecast_bucket_backtest", key) for key in keys] + [("forecast_bucket_champions", None)]
    steps += [("forecast_bucket_forecast", key) for key in keys] + [("sales_forecast_partitioned", None)]

    def selection_of(name):
        return ["forecast_bucket_champions", "forecast_leaderboard_partitioned"] \
            if name == "forecast_bucket_champions" else [name]

    # The reference: every step in process.
    for name, key in steps:
        run = dg.materialize(assets, selection=selection_of(name), resources=resources, instance=instance,
                             partition_key=key, run_config=FORECAST_CONFIG if "backtest" in name else None)
        assert run.success, name
    warehouse = Warehouse(postgres_url)
    expected = _forecast_tables(warehouse)
    assert len(expected["sales_forecast_partitioned"]) > 0
    with warehouse.engine.begin() as conn:  # the cluster runs must write them anew
        for table in expected:
            conn.execute(sa.text(f'DROP TABLE "{table}"'))

    hosts = set()
    with _two_workers(tmp_path, env, queue, broker, "forecast_partitioned_distributed") as (
            cluster, job, logs, hostnames):
        for name, key in steps:
            tags = {"dagster/partition": key} if key is not None else None
            with dg.execute_job(job, cluster, asset_selection=[dg.AssetKey(k) for k in selection_of(name)],
                                tags=tags, raise_on_error=False,
                                run_config=FORECAST_CONFIG if "backtest" in name else None) as result:
                worker_logs = "\n".join(log.read_text()[-3000:] for log in logs)
                assert result.success, f"{name} {key} failed on the cluster:\n{worker_logs}"
                for record in cluster.all_logs(result.run_id):
                    event = record.dagster_event
                    if event is not None and event.is_engine_event and record.step_key:
                        entries = event.engine_event_data.metadata
                        if "Celery worker" in entries:
                            hosts.add(entries["Celery worker"].value)
    assert hosts == set(hostnames), hosts  # both workers took steps
    actual = _forecast_tables(warehouse)
    warehouse.dispose()
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(actual[table], frame, check_like=True)
