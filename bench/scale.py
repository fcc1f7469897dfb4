"""Ten million lines on one machine (issue 15): time and peak memory of the whole path by size.

For each size (``--sizes``, transactions; 120k = ``--scale default``, 1M = ``large``, 10M =
``xlarge`` with 200 shops, 5,000 products, 300k customers, written as chunk files of 1M sale
lines; any other size is ``--transactions N`` with the default shops, products and customers)
and each run, in a fresh temporary data folder and DAGSTER_HOME:

1. ``generate``: ``retail-pipeline sample`` into ``incoming/``;
2. ``ingest``: ``retail-pipeline ingest --pending`` (every file, one after the other);
3. ``refresh_all``: ``retail-pipeline run`` (the whole job in one process, as ``make bootstrap``).

Each phase is a subprocess; its wall time and the peak of the summed RSS of its whole process
tree (polled from /proc every 0.2 s, so a short spike can be missed) are recorded, and the step
times that ``retail-pipeline run`` prints (``done <step> (<s> s)``). End to end = ingest +
refresh_all (the sample is the input, not part of the pipeline). Between consecutive sizes the
growth exponent ``log(t2 / t1) / log(n2 / n1)`` is given per phase and for the slowest steps
(1 = linear). Medians over ``--runs``. Prints a Markdown report and writes JSON to ``--json``;
``--report a.json b.json`` prints the report of earlier runs merged.

    .venv/bin/python bench/scale.py --sizes 120000,1000000 --runs 2
    .venv/bin/python bench/scale.py --sizes 10000000 --runs 1 --deadline 09:10 --json 10m.json
    .venv/bin/python bench/scale.py --report small.json 10m.json
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRESETS = {120_000: "default", 1_000_000: "large", 10_000_000: "xlarge"}
PHASES = ("generate", "ingest", "refresh_all")
STEP_LINE = re.compile(r"^\[\s*[\d.]+s\] (done|FAILED|skipped)\s+(\S+) \(([\d.]+) s\)")
STEP_START = re.compile(r"^\[\s*[\d.]+s\] start\s+(\S+)$", re.M)
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Summed resident memory (bytes) of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            pid, ppid = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * PAGE
            children.setdefault(ppid, []).append(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def mem_available() -> int:
    """MemAvailable of the machine, bytes."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 2**62


def run_phase(cmd: list[str], env: dict, log: Path, timeout: float, min_free: int = 0) -> dict:
    """Run ``cmd``; its wall time, peak tree RSS, exit code, and its output in ``log``. The
    process is killed when the machine's available memory falls below ``min_free`` bytes (a
    shared machine: better to stop the benchmark than have the kernel kill someone else)."""
    peak, starved = [0], [False]
    with open(log, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(proc.pid))
                if min_free and mem_available() < min_free and proc.poll() is None:
                    starved[0] = True
                    proc.kill()
                done.wait(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            code = f"timeout after {timeout:.0f} s (killed)"
        wall = time.monotonic() - t0
        done.set()
        poller.join()
    if starved[0]:
        code = f"killed: machine below {min_free / 2**20:,.0f} MB available"
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak[0] / 2**20, 1), "exit": code}


def sample_args(n: int) -> list[str]:
    return ["--scale", PRESETS[n]] if n in PRESETS else ["--transactions", str(n)]


def one_run(n: int, work: Path, timeout: float, keep: bool, deadline: float | None = None,
            min_free: int = 0) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"scale-{n}-", dir=work))
    data, home = root / "data", root / "dagster_home"
    home.mkdir(parents=True)
    env = {**os.environ, "RETAIL_DATA_DIR": str(data), "DAGSTER_HOME": str(home), "COLUMNS": "200"}
    for key in ("RETAIL_WAREHOUSE_URL", "RETAIL_IO_BASE", "DAGSTER_POSTGRES_URL"):
        env.pop(key, None)  # everything in the temporary folder
    cli = str(BIN / "retail-pipeline")
    commands = {
        "generate": [cli, "sample", *sample_args(n), "--out", str(data / "incoming")],
        "ingest": [cli, "ingest", "--pending"],
        "refresh_all": [cli, "run"],
    }
    result: dict = {"transactions": n, "folder": str(root)}
    try:
        for phase in PHASES:
            log = root / f"{phase}.log"
            left = timeout if deadline is None else min(timeout, deadline - time.time())
            result[phase] = run_phase(commands[phase], env, log, max(left, 1.0), min_free)
            print(f"  {n:>11,} {phase:<12} {result[phase]}", flush=True)
            if phase == "generate":
                files = sorted((data / "incoming").glob("*.csv"))
                result["files"] = len(files)
                result["input_mb"] = round(sum(f.stat().st_size for f in files) / 2**20, 1)
            if phase == "refresh_all":
                text = log.read_text()
                result["steps"] = {m[2]: (m[1], float(m[3])) for line in text.splitlines()
                                   if (m := STEP_LINE.match(line))}
                started = set(STEP_START.findall(text))
                result["unfinished_steps"] = sorted(started - set(result["steps"]))
                result["failed_steps"] = sorted(k for k, (status, _) in result["steps"].items() if status == "FAILED")
            if result[phase]["exit"] != 0 and not (phase == "refresh_all" and result["failed_steps"]
                                                   and not result["unfinished_steps"]):
                result["failed"] = phase  # a failed step elsewhere still gives the time of the run
                result["log_tail"] = log.read_text()[-3000:]
                break
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    if "failed" not in result:
        result["end_to_end_s"] = round(result["ingest"]["wall_s"] + result["refresh_all"]["wall_s"], 2)
        result["peak_rss_mb"] = max(result[p]["peak_rss_mb"] for p in ("ingest", "refresh_all"))
    return result


def median(runs: list[dict], *path: str) -> float | None:
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            values.append(value)
    return statistics.median(values) if values else None


def finished(runs: list[dict], phase: str) -> list[dict]:
    """The runs in which ``phase`` ran to its end (a refresh_all with a failed step counts)."""
    return [r for r in runs if phase in r and r.get("failed") != phase]


def exponent(t1: float | None, t2: float | None, n1: int, n2: int) -> float | None:
    if not t1 or not t2:
        return None
    return round(math.log(t2 / t1) / math.log(n2 / n1), 2)


def report(results: dict[int, list[dict]]) -> str:
    sizes = sorted(results)
    lines = ["| transactions | runs | files / MB | generate s | ingest s | refresh_all s | end to end s "
             "| peak RSS MB (gen / ingest / run) |", "|" + "---|" * 8]
    for n in sizes:
        runs = results[n]
        ok = [r for r in runs if "failed" not in r]

        def fmt(*path: str, pool=runs) -> str:
            v = median(pool, *path)
            return "-" if v is None else f"{v:,.1f}"

        def wall(phase: str, runs=runs) -> str:
            done = finished(runs, phase)
            if done:
                return fmt(phase, "wall_s", pool=done)
            stopped = [r[phase] for r in runs if phase in r]
            return f"stopped at {stopped[0]['wall_s']:,.1f} ({stopped[0]['exit']})" if stopped else "-"

        lines.append(f"| {n:,} | {len(ok)}/{len(runs)} | {fmt('files')} / {fmt('input_mb')} | "
                     f"{wall('generate')} | {wall('ingest')} | {wall('refresh_all')} | "
                     f"{fmt('end_to_end_s', pool=ok)} | {fmt('generate', 'peak_rss_mb')} / "
                     f"{fmt('ingest', 'peak_rss_mb')} / {fmt('refresh_all', 'peak_rss_mb')} |")
    if len(sizes) > 1:
        lines += ["", "| growth exponent | " + " | ".join(PHASES) + " | end to end |", "|---|" + "---|" * 4]
        for n1, n2 in zip(sizes, sizes[1:], strict=False):
            a, b = results[n1], results[n2]
            cells = [exponent(median(finished(a, p), p, "wall_s"), median(finished(b, p), p, "wall_s"), n1, n2)
                     for p in PHASES]
            cells.append(exponent(median(a, "end_to_end_s"), median(b, "end_to_end_s"), n1, n2))
            lines.append(f"| {n1:,} -> {n2:,} | " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    if len(sizes) > 1:  # the steps that take longest at the largest size, and how they grew
        per_size = {n: _step_medians(results[n]) for n in sizes}
        top = sorted(per_size[sizes[-1]], key=lambda k: -per_size[sizes[-1]][k])[:8]
        lines += ["", "| step: s at each size (growth exponent) | " + " | ".join(f"{n:,}" for n in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for step in top:
            cells, before = [], None
            for n in sizes:
                t = per_size[n].get(step)
                grow = exponent(before[1], t, before[0], n) if before and t else None
                cells.append("-" if t is None else f"{t:.1f}" + (f" ({grow})" if grow is not None else ""))
                before = (n, t) if t else None
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
    largest = sizes[-1]
    steps: dict[str, list[float]] = {}
    for run in results[largest]:
        for step, (_, took) in run.get("steps", {}).items():
            steps.setdefault(step, []).append(took)
    if steps:
        ranked = sorted(((statistics.median(v), k) for k, v in steps.items()), reverse=True)
        unfinished = sorted({s for run in results[largest] for s in run.get("unfinished_steps", [])})
        failed = sorted({s for run in results[largest] for s in run.get("failed_steps", [])})
        lines += ["", f"Slowest steps of refresh_all at {largest:,} (median s); failed: {failed or 'none'}; "
                  f"still running when stopped: {unfinished or 'none'}", "",
                  "| step | s |", "|---|---|"]
        lines += [f"| {k} | {t:.1f} |" for t, k in ranked[:15]]
    return "\n".join(lines)


def _step_medians(runs: list[dict]) -> dict[str, float]:
    steps: dict[str, list[float]] = {}
    for run in runs:
        for step, (status, took) in run.get("steps", {}).items():
            if status == "done":
                steps.setdefault(step, []).append(took)
    return {k: statistics.median(v) for k, v in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="120000,1000000,10000000",
                        help="Comma-separated numbers of transactions.")
    parser.add_argument("--runs", type=int, default=1, help="Runs per size (median reported).")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds per phase before it is killed.")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()),
                        help="Where the temporary data folders go (needs about 3 GB per 10M transactions).")
    parser.add_argument("--deadline", default=None,
                        help="HH:MM (UTC, today): a phase still running then is killed and reported as such.")
    parser.add_argument("--min-free-mb", type=float, default=2048,
                        help="Kill a phase when the machine has less memory available than this (0: never).")
    parser.add_argument("--keep", action="store_true", help="Keep the data folders (and the phases' logs).")
    parser.add_argument("--json", type=Path, default=None, help="Write every run's measurements here.")
    parser.add_argument("--report", type=Path, nargs="+", default=None,
                        help="Only print the report of these --json files (their runs merged by size).")
    args = parser.parse_args()
    if args.report:
        merged: dict[int, list[dict]] = {}
        for path in args.report:
            for n, runs in json.loads(path.read_text()).items():
                merged.setdefault(int(n), []).extend(runs)
        print(report(merged))
        return
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    deadline = None
    if args.deadline:
        hour, minute = (int(x) for x in args.deadline.split(":"))
        now = time.gmtime()
        deadline = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hour, minute, 0, 0, 0, 0))
    print(f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    results: dict[int, list[dict]] = {}
    for n in sizes:
        for _ in range(args.runs):
            results.setdefault(n, []).append(one_run(n, args.work, args.timeout, args.keep, deadline,
                                                        int(args.min_free_mb * 2**20)))
            if args.json:
                args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1, default=str))
    print(f"load average at the end {os.getloadavg()}")
    print(report(results))


if __name__ == "__main__":
    main()
