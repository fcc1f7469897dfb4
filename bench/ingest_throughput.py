"""Ingestion throughput: 1,000,000 generated transactions in one CSV, against the read floor.

The floor is what pandas with the pyarrow engine needs just to read the file; the full
ingestion (``ingest_file`` into a fresh data folder: hash, read as text, validate every
rule, write history + consolidated Parquet, ledger, archive) should stay within 5x of it.
Each ingestion runs in its own subprocess so that its peak RSS is measured alone; times
are the median of ``--runs`` runs, each floor measured right before its ingestion. The
last line is machine-readable:

    ingest_s=X read_floor_s=Y ratio=Z peak_rss_mb=W

``--store-item`` also ingests the full store-item-demand file (913,000 rows, gzip).
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STORE_ITEM = ROOT.parent / "shared" / "data" / "store_item_demand" / "train.csv.gz"


def generate(path: Path, rows: int, seed: int = 42) -> None:
    """Canonical transactions, vectorised (numpy), written with pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    start = np.datetime64("2022-01-01T00:00:00", "s")
    dates = start + rng.integers(0, 3 * 365 * 86400, rows).astype("timedelta64[s]")
    customers = rng.integers(1, 50_001, rows)
    table = pa.table({
        "transaction_id": np.char.add("T", np.arange(1, rows + 1).astype(str)),
        "customer_id": np.where(customers % 10 == 0, "", np.char.add("C", customers.astype(str))),
        "product_id": np.char.add("P", rng.integers(1, 2_001, rows).astype(str)),
        "shop_id": np.char.add("S", rng.integers(1, 51, rows).astype(str)),
        "quantity": rng.integers(1, 10, rows),
        "actual_price": np.round(rng.uniform(0.5, 200.0, rows), 2),
        "transaction_date": pd.to_datetime(dates).strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
        "payment_method": rng.choice(np.array(["cash", "card", "mobile"]), rows),
    })
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))


def child(file: str, root: str) -> None:
    """Run one ingestion and report its wall time and this process's peak RSS."""
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.platform.layout import DataLayout

    warm = DataLayout(Path(root) / "warm-up").ensure()  # first-call costs (lazy imports, kernels)
    (warm.incoming / "warm.csv").write_bytes(Path(file).read_bytes()[:4096].rsplit(b"\n", 1)[0] + b"\n")
    ingest_file(warm.incoming / "warm.csv", warm)
    layout = DataLayout(Path(root) / "data").ensure()
    target = layout.incoming / Path(file).name
    shutil.copyfile(file, target)
    began = time.perf_counter()
    result = ingest_file(target, layout)
    seconds = time.perf_counter() - began
    assert result.status == "accepted", result.summary
    # VmHWM starts afresh at exec; ru_maxrss would include the parent's size at fork
    status = Path("/proc/self/status").read_text()
    rss_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "rows": result.rows}))


def ingest_once(file: Path, work: Path, run: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(file), str(work / f"run{run}")],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store-item", action="store_true", help="also ingest the full store-item file")
    parser.add_argument("--child", nargs=2, metavar=("FILE", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        work = Path(tmp)
        file = work / "transactions.csv"
        began = time.perf_counter()
        generate(file, args.rows)
        print(f"generated {args.rows:,} rows ({file.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - began:.1f}s")
        # floor and ingestion alternate, so that both see the same machine load (the
        # machine is shared: a floor measured before all ingestions would compare a quiet
        # moment with a busy one)
        floors, runs = [], []
        for i in range(args.runs):
            began = time.perf_counter()
            frame = pd.read_csv(file, engine="pyarrow")
            floors.append(time.perf_counter() - began)
            assert len(frame) == args.rows
            del frame
            runs.append(ingest_once(file, work, i))
        for i, (floor, run) in enumerate(zip(floors, runs, strict=True)):
            print(f"run {i + 1}: read_floor {floor:.3f}s, ingest {run['seconds']:.3f}s, "
                  f"peak RSS {run['rss_mb']:.0f} MB, rows {run['rows']}")
        if args.store_item:
            store_item = [ingest_once(STORE_ITEM, work, 100 + i) for i in range(args.runs)]
            times = [r["seconds"] for r in store_item]
            print(f"store_item_demand train.csv.gz ({store_item[0]['rows']}): median "
                  f"{statistics.median(times):.3f}s over {len(times)} runs, peak RSS "
                  f"{max(r['rss_mb'] for r in store_item):.0f} MB")
        ingest_s = statistics.median(r["seconds"] for r in runs)
        floor_s = statistics.median(floors)
        peak = max(r["rss_mb"] for r in runs)
        print(f"ingest_s={ingest_s:.3f} read_floor_s={floor_s:.3f} ratio={ingest_s / floor_s:.2f} "
              f"peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
