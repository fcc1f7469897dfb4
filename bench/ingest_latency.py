"""From a file landing in incoming/ to the end of its ingestion run, under `dagster dev`.

Starts `dagster dev` (its own process group, as `make dev` would run it) on a free port with a
fresh DAGSTER_HOME and data folder, waits for the code location, then drops --files files one
after another into incoming/ (each a different small transactions CSV) and, for each, waits
until a new successful `ingest_upload_job` run appears in the GraphQL API. The latency is
that run's end time minus the moment the file was moved into incoming/. The sensor ticks every
30 seconds, so the latency depends on where in the tick cycle a file lands; the drops are
spread over the cycle on purpose.

    .venv/bin/python bench/ingest_latency.py [--files 5]

Last line: `latency_median_s=X latency_max_s=Y files=N`.
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
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retail_pipeline.sample import SampleSize, generate  # noqa: E402

RUNS = """
{ runsOrError(filter: {pipelineName: "ingest_upload_job"}) {
    ... on Runs { results { runId status endTime } } } }
"""
SENSOR = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name sensorState { status } } } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query: str) -> dict:
    return requests.post(f"{url}/graphql", json={"query": query}, timeout=30).json()["data"]


def _successful_runs(url: str) -> dict[str, float]:
    runs = _graphql(url, RUNS)["runsOrError"]["results"]
    return {r["runId"]: r["endTime"] for r in runs if r["status"] == "SUCCESS"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="retail_latency_"))
    home, data = work / "dagster_home", work / "data"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "RETAIL_DATA_DIR": str(data)}
    log = (work / "dagster_dev.log").open("w")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
         "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    latencies = []
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                nodes = _graphql(url, SENSOR)["repositoriesOrError"]["nodes"]
                if nodes:
                    break
            except (requests.ConnectionError, KeyError, TypeError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("dagster dev did not come up")
            time.sleep(1)
        (data / "incoming").mkdir(parents=True, exist_ok=True)
        for i in range(args.files):
            frame = generate(SampleSize(shops=3, products=10, customers=20, transactions=2_000), seed=100 + i)
            staged = work / f"upload_{i}.csv"
            frame.transactions.assign(transaction_id=lambda f, i=i: f"L{i}-" + f["transaction_id"]).to_csv(
                staged, index=False)
            before = _successful_runs(url)
            dropped = time.time()
            os.replace(staged, data / "incoming" / f"upload_{i}.csv")  # lands whole, like a sync client
            while True:
                new = {k: v for k, v in _successful_runs(url).items() if k not in before}
                if new:
                    latency = max(new.values()) - dropped
                    latencies.append(latency)
                    print(f"file={i} latency_s={latency:.1f}", flush=True)
                    break
                if time.time() - dropped > args.timeout:
                    raise SystemExit(f"file {i}: no ingestion run finished within {args.timeout} s")
                time.sleep(0.5)
            time.sleep(7 * (i + 1) % 30)  # land the next file at another point of the tick cycle
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    print(f"latency_median_s={statistics.median(latencies):.1f} latency_max_s={max(latencies):.1f} "
          f"files={len(latencies)}")


if __name__ == "__main__":
    main()
