"""An upload that changes several tables commits them together, even when killed mid-way."""

import shutil

import pandas as pd
import pytest

from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.store import JOURNAL, TableStore

from .helpers import WOOCOMMERCE


class Killed(Exception):
    pass


def _frames(n: int) -> dict[str, pd.DataFrame]:
    shops = pd.DataFrame({"shop_id": ["S1"], "city": [f"city {n}"], "district": [None]}).astype("str")
    products = pd.DataFrame({"product_id": ["P1"], "product_name": [f"name {n}"], "category": ["c"],
                             "brand": ["b"], "standard_price": [float(n)]})
    return {"shops": shops, "products": products}


def _kill_after_first_rename(entity: str) -> None:
    raise Killed(entity)


def test_killed_after_the_commit_point_reads_as_all_new(tmp_path):
    store = TableStore(tmp_path)
    store.upsert_many(_frames(1))
    with pytest.raises(Killed):
        store.upsert_many(_frames(2), after_rename=_kill_after_first_rename)
    assert (tmp_path / JOURNAL).exists()  # one table renamed, the other still pending
    assert store.read("products")["standard_price"].tolist() == [2.0]  # the read finishes the commit
    assert store.read("shops")["city"].tolist() == ["city 2"]
    assert not (tmp_path / JOURNAL).exists() and not list(tmp_path.glob(".*.pending.parquet"))


def test_killed_before_the_commit_point_leaves_all_old(tmp_path, monkeypatch):
    store = TableStore(tmp_path)
    store.upsert_many(_frames(1))
    def tables():
        return {p.name: p.read_bytes() for p in tmp_path.glob("*.parquet") if not p.name.startswith(".")}

    before = tables()

    def die(*args, **kwargs):
        raise Killed("before the journal")

    monkeypatch.setattr("retail_pipeline.platform.atomic.write_json", die)
    with pytest.raises(Killed):
        store.upsert_many(_frames(2))
    monkeypatch.undo()
    assert tables() == before
    assert store.read("shops")["city"].tolist() == ["city 1"]
    store.upsert_many(_frames(3))  # leftover pending files are simply overwritten
    assert store.read("products")["standard_price"].tolist() == [3.0]


def test_woocommerce_upload_killed_mid_commit_then_rerun_equals_a_clean_run(layout, tmp_path, monkeypatch):
    clean = layout.__class__(tmp_path / "clean").ensure()
    shutil.copy(WOOCOMMERCE, clean.incoming / WOOCOMMERCE.name)
    assert ingest_file(clean.incoming / WOOCOMMERCE.name, clean).accepted

    shutil.copy(WOOCOMMERCE, layout.incoming / WOOCOMMERCE.name)
    real = TableStore.roll_forward

    def roll_forward_then_die(self, after_rename=None):
        return real(self, after_rename=_kill_after_first_rename if (self.root / JOURNAL).exists() else None)

    monkeypatch.setattr(TableStore, "roll_forward", roll_forward_then_die)
    with pytest.raises(Killed):
        ingest_file(layout.incoming / WOOCOMMERCE.name, layout)
    monkeypatch.undo()
    assert ingest_file(layout.incoming / WOOCOMMERCE.name, layout).accepted  # the rerun
    for entity in ("transactions", "customers"):
        pd.testing.assert_frame_equal(TableStore(layout.store).read(entity), TableStore(clean.store).read(entity))
