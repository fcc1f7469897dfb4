"""`dagster dev` starts, serves the asset graph and the running schedule, and stops cleanly.

The server runs in its own process group (setsid): a process started in the background of a
non-interactive shell ignores SIGINT, so the test stops the whole group with SIGTERM.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
QUERY = """
{
  assetNodes { assetKey { path } }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        location { name }
        schedules { name cronSchedule scheduleState { status } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    """Start ``dg dev`` as a shell would: no blocked or ignored SIGTERM/SIGINT. A signal mask
    and SIG_IGN survive fork and exec, and the pytest worker may carry both from libraries
    other tests loaded (billiard, Celery's pool, blocks SIGTERM around its forks): then
    ``dg dev`` never saw the test's SIGTERM in full-suite runs, while it stopped in 3 s alone."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)


@pytest.fixture
def dagster_dev(tmp_path, seeded_layout):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "RETAIL_DATA_DIR": str(seeded_layout.root)}
    log = (tmp_path / "dagster_dev.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_default_signals,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "dagster dev did not answer within 180 s"
            time.sleep(1)
        yield url, proc, tmp_path / "dagster_dev.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _graphql(url: str) -> dict:
    deadline = time.monotonic() + 120
    while True:  # the code server may still be loading the location
        data = requests.post(f"{url}/graphql", json={"query": QUERY}, timeout=30).json()["data"]
        if data["assetNodes"] or time.monotonic() > deadline:
            return data
        time.sleep(2)


@pytest.mark.slow
def test_dagster_dev_serves_the_graph_and_the_running_schedule(dagster_dev):
    url, proc, log = dagster_dev
    data = _graphql(url)
    assets = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    assert {"raw_transactions", "sales_features", "daily_sales", "kpi_summary",
            "category_performance_chart"} <= assets
    schedules = {s["name"]: s for repo in data["repositoriesOrError"]["nodes"] for s in repo["schedules"]}
    schedule = schedules["refresh_every_30_minutes"]
    assert schedule["cronSchedule"] == "*/30 * * * *"
    assert schedule["scheduleState"]["status"] == "RUNNING"
    # start-up says nothing a user could not act on: no warnings at all
    warnings = [line for line in log.read_text().splitlines() if "warning" in line.lower()]
    assert warnings == []
    group = subprocess.run(["ps", "-o", "pid,etime,args", "-g", str(proc.pid)],
                           capture_output=True, text=True).stdout
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)  # the whole group stops on SIGTERM
    except subprocess.TimeoutExpired:
        left = subprocess.run(["ps", "-o", "pid,etime,args", "-g", str(proc.pid)],
                              capture_output=True, text=True).stdout
        pytest.fail(f"dg dev did not stop within 60 s of SIGTERM.\nGroup before:\n{group}\n"
                    f"Still running:\n{left}\nLog tail:\n{log.read_text()[-4000:]}")
