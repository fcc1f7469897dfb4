"""Real files dropped into incoming/ reach daily_sales: sensor -> upload runs -> refresh."""

import csv
import gzip
import itertools
import os
import shutil
import time

import dagster as dg
import pandas as pd

from retail_pipeline.defs.ingest.uploads import incoming_files_sensor, upload
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.platform.warehouse import Warehouse
from retail_pipeline_tests.ingest.helpers import STORE_ITEM, WOOCOMMERCE, woocommerce_line_items
from retail_pipeline_tests.pipeline import materialize_everything

SERIES = 3  # the file is sorted by item, store, date: the first rows are whole series


def _store_item_slice() -> tuple[bytes, pd.DataFrame]:
    with gzip.open(STORE_ITEM, "rt", newline="") as handle:
        rows = list(itertools.islice(csv.reader(handle), 1 + SERIES * 1826))
    text = "\n".join(",".join(row) for row in rows) + "\n"
    frame = pd.DataFrame(rows[1:], columns=rows[0])
    return gzip.compress(text.encode()), frame


def test_store_item_and_woocommerce_uploads_reach_daily_sales(layout):
    packed, store_item = _store_item_slice()
    (layout.incoming / "store_item.csv.gz").write_bytes(packed)
    shutil.copy(WOOCOMMERCE, layout.incoming / WOOCOMMERCE.name)
    landed = time.time_ns() - 60_000_000_000  # both finished landing a minute ago
    for path in layout.incoming.iterdir():
        os.utime(path, ns=(landed, landed))
    data_dir = DataDirResource(root=str(layout.root))
    url = f"sqlite:///{layout.root / 'warehouse.db'}"

    with dg.DagsterInstance.ephemeral() as instance:
        first = incoming_files_sensor(dg.build_sensor_context(instance=instance, resources={"data_dir": data_dir}))
        assert first.run_requests == []  # a file is complete once unchanged over two ticks
        tick = incoming_files_sensor(dg.build_sensor_context(instance=instance, resources={"data_dir": data_dir},
                                                             cursor=first.cursor))
        assert len(tick.run_requests) == 2
        instance.add_dynamic_partitions("uploads", [r.partition_key for r in tick.run_requests])
        for request in tick.run_requests:
            run = dg.materialize([upload], partition_key=request.partition_key, instance=instance,
                                 resources={"data_dir": data_dir}, run_config=request.run_config)
            assert run.success
            assert run.asset_materializations_for_node("upload")[0].metadata["status"].value == "accepted"
        assert materialize_everything(layout, url, instance=instance).success

    assert sorted(p.name for p in layout.archive.iterdir()) == sorted(["store_item.csv.gz", WOOCOMMERCE.name])
    daily = Warehouse(url).read_table("daily_sales")
    totals = daily[daily["source"] == "daily_totals"]
    assert len(totals) == SERIES * 1826
    assert totals["quantity"].sum() == store_item["sales"].astype(int).sum()
    first = store_item.iloc[0]
    row = totals[(pd.to_datetime(totals["date"]) == pd.Timestamp(first["date"]))
                 & (totals["shop_id"] == first["store"]) & (totals["product_id"] == first["item"])]
    assert row["quantity"].tolist() == [float(first["sales"])]
    web = daily[daily["shop_id"] == "web"]
    assert web["quantity"].sum() == sum(int(item["quantity"]) for _, _, item in woocommerce_line_items(WOOCOMMERCE)) and (web["source"] == "transactions").all()
    # a series that repeats another level is stored once; the aliases table restores it
    from retail_pipeline.forecasting.pipeline import expand_aliases

    forecast = expand_aliases(Warehouse(url).read_table("sales_forecast"),
                              Warehouse(url).read_table("forecast_series_aliases"))
    assert {f"shop={first['store']}|product={first['item']}"} <= set(forecast["series_id"])
