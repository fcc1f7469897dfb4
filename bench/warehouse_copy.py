"""PostgreSQL writes of `daily_sales`: COPY (the warehouse's path) against pandas INSERTs.

Builds `daily_sales` from the default sample (120,000 transactions), then replaces the
served table on a throw-away PostgreSQL database several times with each method, A B A B,
and prints the median wall time of each and their ratio:

    .venv/bin/python bench/warehouse_copy.py [--runs 5] [--transactions 120000]
    .venv/bin/python bench/warehouse_copy.py --runs 3 --daily-sales <RETAIL_DATA_DIR>/io/daily_sales.parquet

``--daily-sales`` writes a ``daily_sales`` the pipeline already built (e.g. the 10M-transaction
xlarge sample's, about 8 million rows) instead of building one from a generated sample.

The INSERT path is what the warehouse did before (pandas ``to_sql`` with SQLAlchemy's
executemany into a staging table, then the swap); the COPY path is ``Warehouse.write_table``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from retail_pipeline.platform import settings
from retail_pipeline.platform.frames import read_parquet
from retail_pipeline.platform.warehouse import Warehouse
from retail_pipeline.sales.features import build_daily_sales
from retail_pipeline.sample import SampleSize, generate


def insert_path(warehouse: Warehouse, frame: pd.DataFrame) -> None:
    staging = f"daily_sales__bench_{uuid.uuid4().hex[:8]}"
    with warehouse.engine.begin() as conn:
        frame.to_sql(staging, conn, index=False, chunksize=50_000, method=None)
        conn.execute(sa.text("DROP TABLE IF EXISTS daily_sales"))
        conn.execute(sa.text(f'ALTER TABLE "{staging}" RENAME TO daily_sales'))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--transactions", type=int, default=SampleSize.transactions)
    parser.add_argument("--daily-sales", type=Path, default=None,
                        help="Parquet file of a daily_sales the pipeline built (IO manager output)")
    args = parser.parse_args()
    if args.daily_sales is not None:
        frame = read_parquet(str(args.daily_sales))
    else:
        sample = generate(SampleSize(transactions=args.transactions), seed=42)
        frame = build_daily_sales(sample.transactions.astype({"transaction_date": "datetime64[ns]"}))
    admin_url = settings.test_pg_url()
    name = f"retail_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    warehouse = Warehouse(url)
    times: dict[str, list[float]] = {"copy": [], "insert": []}
    try:
        for _ in range(args.runs):
            for method, write in (("copy", warehouse.write_table), ("insert", None)):
                start = time.perf_counter()
                if write is not None:
                    write("daily_sales", frame)
                else:
                    insert_path(warehouse, frame)
                times[method].append(time.perf_counter() - start)
        assert warehouse.row_counts()["daily_sales"] == len(frame)
    finally:
        warehouse.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    copy, insert = statistics.median(times["copy"]), statistics.median(times["insert"])
    ratios = [i / c for c, i in zip(times["copy"], times["insert"], strict=True)]
    print(f"rows={len(frame)} runs={args.runs} copy_median_s={copy:.3f} "
          f"insert_median_s={insert:.3f} speedup_median={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
