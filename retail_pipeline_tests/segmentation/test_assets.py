"""The segmentation assets materialised on a small ingested sample with real resources."""

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.defs.ingest import assets as ingest_assets
from retail_pipeline.defs.sales import assets as sales_assets
from retail_pipeline.defs.segmentation import assets as segmentation_assets
from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.segmentation.clustering import MODEL_NAME
from retail_pipeline_tests import pipeline

UPSTREAM = ["raw_transactions", "raw_customers", "raw_products", "raw_shops", "sales_features"]
CHARTS = ["segment_map.png", "segment_profiles.png", "rfm_grid.png", "segment_silhouette.png",
          "customer_value.png", "customer_value_holdout.png"]


def _materialize(layout, url, run_config=None, instance=None, upstream=True):
    assets = dg.load_assets_from_modules([ingest_assets, sales_assets, segmentation_assets])
    checks = dg.load_asset_checks_from_modules([segmentation_assets])
    selection = dg.AssetSelection.groups("segmentation")
    if upstream:
        selection = selection | dg.AssetSelection.assets(*UPSTREAM)
    return dg.materialize([*assets, *checks], selection=selection, instance=instance,
                          resources=pipeline.test_resources(layout, url), run_config=run_config or {})


@pytest.fixture
def warehouse_url(tmp_path):
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def _read(url, table):
    engine = sa.create_engine(url)
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


def test_segmentation_assets_materialise_and_serve(seeded_layout, warehouse_url, small_sample):
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {"customer_segments": {"config": {"k": "auto", "auto_max_k": 5,
                                                       "n_init": 3}},
                      "customer_value": {"config": {"interval_draws": 50}}}}
    result = _materialize(seeded_layout, warehouse_url, config, instance)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["rfm_scores_are_valid"] and checks["every_customer_in_one_segment"]
    assert checks["segment_shares_add_up"] and checks["customer_value_is_consistent"]

    buyers = small_sample.transactions["customer_id"].dropna().nunique()
    rfm = _read(warehouse_url, "rfm_scores")
    segments = _read(warehouse_url, "customer_segments")
    profiles = _read(warehouse_url, "segment_profiles")
    value = _read(warehouse_url, "customer_value")
    assert len(rfm) == len(segments) == len(value) == buyers
    assert set(rfm["r_score"]) == {1, 2, 3, 4, 5}
    k = segments["segment_id"].nunique()
    assert 2 <= k <= 5 and profiles["segment_id"].nunique() == k
    assert profiles.drop_duplicates("segment_id")["size"].sum() == buyers
    assert value["p_alive"].between(0, 1).all()
    for chart in CHARTS:
        assert (seeded_layout.charts / chart).stat().st_size > 5_000, chart

    registry = ModelRegistry(seeded_layout.models)
    version = registry.latest(MODEL_NAME).version
    assert set(segments["model_version"]) == {version}
    meta = result.asset_materializations_for_node("customer_segments")[0].metadata
    assert meta["trained"].value is True and meta["reason"].text == "first model"
    assert int(meta["k"].value) == k

    # a second run reuses the model: same version, same ids, and the history grows
    again = _materialize(seeded_layout, warehouse_url, config, instance, upstream=False)
    assert again.success
    meta = again.asset_materializations_for_node("customer_segments")[0].metadata
    assert meta["trained"].value is False and meta["model_version"].text == version
    second = _read(warehouse_url, "customer_segments")
    pd.testing.assert_series_equal(second.set_index("customer_id")["segment_id"].sort_index(),
                                   segments.set_index("customer_id")["segment_id"].sort_index())
    history = _read(warehouse_url, "segment_profiles_history")
    assert history["run_id"].nunique() == 2
    sizes = history.drop_duplicates(["run_id", "segment_id"]).groupby("run_id")["size"].sum()
    assert (sizes == buyers).all()
    assert _read(warehouse_url, "customer_segments_history")["run_id"].nunique() == 2


def test_a_store_without_sales_gets_empty_tables_not_invented_segments(layout, warehouse_url):
    result = _materialize(layout, warehouse_url)
    assert result.success
    for table in ("rfm_scores", "customer_segments", "segment_profiles", "customer_value",
                  "customer_value_holdout"):
        assert _read(warehouse_url, table).empty, table
    meta = result.asset_materializations_for_node("customer_segments")[0].metadata
    assert meta["status"].text.startswith("skipped: no customers")
    for chart in CHARTS:
        assert (layout.charts / chart).exists(), chart
