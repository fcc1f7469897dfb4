"""Sales steps: pandas against DuckDB (issue 15).

Builds synthetic contract-typed inputs (transactions with walk-ins, unknown ids, returns,
cancellations, void and price-0 lines; customers, products, shops) directly with numpy,
writes them once as Parquet (the IO manager's format), then times ``build_sales_features``
and ``build_daily_sales`` per engine. Each step runs in a subprocess of its own (as the
multiprocess executor runs it) that reads its Parquet inputs, runs the step and reports its
time and peak RSS. Times and peaks are the median of ``--runs`` runs. The engines must agree
on row counts, report and totals (``retail_pipeline_tests/sales/test_columnar.py`` checks
full, exact equality on smaller data).

    python bench/sales_engine.py --rows 1000000 --runs 3
    python bench/sales_engine.py --rows 10000000 --runs 1

The last line per engine is machine-readable:

    rows=N engine=E total_s=T sales_features_s=X sales_features_input_rss_mb=A
    sales_features_peak_rss_mb=B daily_sales_s=Y daily_sales_input_rss_mb=C daily_sales_peak_rss_mb=D
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

SHOPS, PRODUCTS, CUSTOMERS = 50, 5_000, 200_000


def _ids(prefix: str, count: int, width: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]


def _pick(ids: list[str], codes: np.ndarray) -> pd.Series:
    """The ids at ``codes`` (-1: missing) as the contract's ``str`` column."""
    return pd.Series(pd.Categorical.from_codes(codes, categories=ids)).astype("str")


def synthetic(rows: int, seed: int = 15) -> dict[str, pd.DataFrame]:
    """Contract-typed tables with ``rows`` transaction lines, vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    customer_ids = _ids("C", CUSTOMERS, 7)
    product_ids = _ids("P", PRODUCTS, 6)
    shop_ids = _ids("S", SHOPS, 4)
    # 1% of the lines name an id the dimension does not know (the last 1% of each id range)
    known_customers = int(CUSTOMERS * 0.99)
    customer_codes = rng.integers(0, CUSTOMERS, rows)
    customer_codes[rng.random(rows) < 0.10] = -1  # walk-ins
    popularity = 1.0 / np.arange(1, PRODUCTS + 1) ** 0.8  # a long tail of slow sellers
    product_codes = rng.choice(PRODUCTS, rows, p=popularity / popularity.sum())
    shop_codes = rng.integers(0, SHOPS, rows)
    kind = rng.random(rows)
    quantity = rng.integers(1, 10, rows)
    line_type = np.full(rows, -1)
    line_type[kind < 0.03] = 0  # return, typed
    line_type[(kind >= 0.03) & (kind < 0.04)] = 1  # cancellation
    line_type[(kind >= 0.04) & (kind < 0.05)] = 2  # void (positive quantity)
    quantity = np.where(kind < 0.04, -quantity, quantity)
    quantity[(kind >= 0.05) & (kind < 0.06)] *= -1  # returns without a line type
    standard = np.round(rng.uniform(0.5, 200.0, PRODUCTS), 2)
    price = np.round(standard[product_codes] * rng.uniform(0.7, 1.0, rows), 2)
    price[rng.random(rows) < 0.005] = 0.0
    start = np.datetime64("2022-01-01T00:00:00", "ns")
    dates = start + (rng.integers(0, 3 * 365 * 86400, rows) * 1_000_000_000).astype("timedelta64[ns]")
    numbers = pa.array(np.arange(1, rows + 1)).cast(pa.string())
    transaction_ids = pc.binary_join_element_wise("T", pc.utf8_lpad(numbers, 9, "0"), "")
    transactions = pd.DataFrame({
        "transaction_id": pd.Series(transaction_ids.to_pandas()).astype("str"),
        "customer_id": _pick(customer_ids, customer_codes),
        "product_id": _pick(product_ids, product_codes),
        "shop_id": _pick(shop_ids, shop_codes),
        "quantity": pd.array(quantity, dtype="Int64"),
        "actual_price": price,
        "transaction_date": dates,
        "payment_method": _pick(["card", "cash", "mobile"], rng.integers(-1, 3, rows)),
        "line_type": _pick(["return", "cancellation", "void"], line_type),
    })
    customers = pd.DataFrame({
        "customer_id": pd.Series(customer_ids[:known_customers], dtype="str"),
        "customer_name": pd.Series([f"Customer {i}" for i in range(known_customers)], dtype="str"),
        "gender": _pick(["female", "male"], rng.integers(0, 2, known_customers)),
        "age": pd.array(rng.integers(18, 90, known_customers), dtype="Int64"),
        "city": _pick(["Berlin", "Hamburg", "Munich", "Cologne"], rng.integers(0, 4, known_customers)),
        "avg_monthly_spending": np.round(rng.uniform(20, 900, known_customers), 2),
    })
    known_products = int(PRODUCTS * 0.99)
    products = pd.DataFrame({
        "product_id": pd.Series(product_ids[:known_products], dtype="str"),
        "product_name": pd.Series([f"Product {i}" for i in range(known_products)], dtype="str"),
        "category": _pick(["Home", "Toys", "Books", "Groceries"], rng.integers(-1, 4, known_products)),
        "brand": _pick(["A", "B", "C"], rng.integers(0, 3, known_products)),
        "standard_price": standard[:known_products],
        "unit_cost": pd.Series(np.round(standard[:known_products] * 0.6, 2).astype(str), dtype="str"),
    })
    shops = pd.DataFrame({
        "shop_id": pd.Series(shop_ids[:-1], dtype="str"),
        "city": _pick(["Berlin", "Hamburg", "Munich"], rng.integers(0, 3, SHOPS - 1)),
        "district": _pick(["Mitte", "Nord", "Sued"], rng.integers(0, 3, SHOPS - 1)),
    })
    return {"transactions": transactions, "customers": customers, "products": products, "shops": shops}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


STEPS = ("sales_features", "daily_sales")


def run_once(folder: Path, engine: str, step: str) -> dict:
    """One step in this process, as Dagster's multiprocess executor runs it: read the inputs
    from Parquet, run the step, report its time, the RSS after reading and the peak RSS."""
    import resource
    import time

    from retail_pipeline.sales.features import build_daily_sales, build_sales_features

    names = ("transactions", "customers", "products", "shops") if step == "sales_features" \
        else ("transactions",)
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in names}
    input_rss = _rss_mb()
    started = time.perf_counter()
    if step == "sales_features":
        frame, report = build_sales_features(tables["transactions"], tables["customers"],
                                             tables["products"], tables["shops"], engine=engine)
        check = {"rows": len(frame), "columns": frame.shape[1], "total_amount": float(frame["total_amount"].sum()),
                 **report.as_dict()}
    else:
        frame = build_daily_sales(tables["transactions"], None, engine=engine)
        check = {"rows": len(frame), "columns": frame.shape[1], "net_units": float(frame["quantity"].sum())}
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "input_rss_mb": input_rss, "peak_rss_mb": peak, "check": check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default="pandas,duckdb")
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "ENGINE", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(Path(args.child[0]), args.child[1], args.child[2])))
        return
    engines = args.engines.split(",")
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="sales_engine_") as tmp:
        folder = Path(tmp)
        for name, frame in synthetic(args.rows).items():
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        for run in range(args.runs):
            for step in STEPS:
                for engine in engines:
                    out = subprocess.run([sys.executable, __file__, "--child", str(folder), engine, step],
                                         capture_output=True, text=True, check=True, cwd=ROOT)
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    results.setdefault((step, engine), []).append(result)
                    print(f"run {run + 1} {step} {engine}: {result}", flush=True)
    for step in STEPS:
        checks = [results[(step, engine)][0]["check"] for engine in engines]
        assert all(c == checks[0] for c in checks), f"{step}: the engines disagree: {checks}"
    for engine in engines:
        total = statistics.median(sum(results[(step, engine)][run]["seconds"] for step in STEPS)
                                  for run in range(args.runs))
        line = [f"rows={args.rows} engine={engine} total_s={total:.2f}"]
        for step in STEPS:
            runs = results[(step, engine)]
            line.append(f"{step}_s={statistics.median(r['seconds'] for r in runs):.2f} "
                        f"{step}_input_rss_mb={statistics.median(r['input_rss_mb'] for r in runs):.0f} "
                        f"{step}_peak_rss_mb={statistics.median(r['peak_rss_mb'] for r in runs):.0f}")
        print(" ".join(line))


if __name__ == "__main__":
    main()
