"""Ingesting the real Online Retail II file (2009-2010, gzip) end to end, against the read floor.

The file is the UCI "Online Retail II" invoice-line export as published (``Invoice,StockCode,
Description,Quantity,InvoiceDate,Price,Customer ID,Country``; 525,461 lines, returns as ``C``
invoices), recognised without a mapping (format ``invoice_lines``) and turned into
transactions, products and customers. The floor is what pandas with the pyarrow engine needs
just to read the same gzip file; the full ingestion (``ingest_file`` into a fresh data folder:
hash, decompress, read as text, convert the invoice lines, validate every rule, write history
and consolidated Parquet for the three tables, ledger, archive) is measured in its own
subprocess after a small warm-up ingest, so that its peak RSS (VmHWM) is its own. Floor and
ingestion alternate, so both see the same machine load; times are the median of ``--runs``
runs. The CPU time of both (process time, all threads) is printed too: on a shared machine it
moves less than wall time. The last line is machine-readable:

    ingest_s=X read_floor_s=Y ratio=Z peak_rss_mb=W

Target (issue 10): ratio at most 5, as for the canonical format (``bench/ingest_throughput.py``).
"""

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail_II_2009_2010.csv.gz"


def child(file: str, root: str) -> None:
    """Run one ingestion and report its wall time, its result and this process's peak RSS."""
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.platform.layout import DataLayout

    warm = DataLayout(Path(root) / "warm-up").ensure()  # first-call costs (lazy imports, kernels)
    with gzip.open(file, "rb") as handle:
        head = handle.read(8192).rsplit(b"\n", 1)[0] + b"\n"
    (warm.incoming / "warm.csv").write_bytes(head)
    ingest_file(warm.incoming / "warm.csv", warm)
    layout = DataLayout(Path(root) / "data").ensure()
    target = layout.incoming / Path(file).name
    shutil.copyfile(file, target)
    began, cpu = time.perf_counter(), time.process_time()
    result = ingest_file(target, layout)
    seconds, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    assert result.status in ("accepted", "partial"), result.summary
    status = Path("/proc/self/status").read_text()
    rss_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "rss_mb": rss_mb, "rows": result.rows, "status": result.status,
                      "quarantined_rows": result.quarantined_rows}))


def ingest_once(file: Path, work: Path, run: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(file), str(work / f"run{run}")],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", type=Path, default=ONLINE_RETAIL)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    file = args.file
    print(f"{file.name}: {file.stat().st_size / 1e6:.1f} MB gzip")
    with tempfile.TemporaryDirectory(prefix="ingest-online-retail-") as tmp:
        work = Path(tmp)
        floors, floor_cpu, runs = [], [], []
        for i in range(args.runs):
            began, cpu = time.perf_counter(), time.process_time()
            frame = pd.read_csv(file, engine="pyarrow")
            floors.append(time.perf_counter() - began)
            floor_cpu.append(time.process_time() - cpu)
            lines = len(frame)
            del frame
            runs.append(ingest_once(file, work, i))
            shutil.rmtree(work / f"run{i}", ignore_errors=True)
        for i, (floor, fcpu, run) in enumerate(zip(floors, floor_cpu, runs, strict=True)):
            print(f"run {i + 1}: read_floor {floor:.3f}s (cpu {fcpu:.3f}s, {lines:,} lines), "
                  f"ingest {run['seconds']:.3f}s (cpu {run['cpu_s']:.3f}s) "
                  f"({run['status']}, {run['rows']}, {run['quarantined_rows']} rows quarantined), "
                  f"peak RSS {run['rss_mb']:.0f} MB")
        ingest_s = statistics.median(r["seconds"] for r in runs)
        floor_s = statistics.median(floors)
        peak = max(r["rss_mb"] for r in runs)
        cpu_ratio = statistics.median(r["cpu_s"] for r in runs) / statistics.median(floor_cpu)
        print(f"cpu: ingest {statistics.median(r['cpu_s'] for r in runs):.3f}s, read floor "
              f"{statistics.median(floor_cpu):.3f}s, ratio {cpu_ratio:.2f} (less sensitive to other load)")
        print(f"ingest_s={ingest_s:.3f} read_floor_s={floor_s:.3f} ratio={ingest_s / floor_s:.2f} "
              f"peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
