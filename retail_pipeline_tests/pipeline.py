"""Running the whole refresh graph in a test, with real resources."""

import dagster as dg

from retail_pipeline.definitions import defs
from retail_pipeline.defs.io_manager import ParquetIOManagerResource
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.platform.layout import DataLayout

REFRESH = dg.AssetSelection.all() - dg.AssetSelection.groups("uploads", "forecasting_partitioned")
# The whole graph, with the forecasting zoo cut to naive and gradient boosting: Prophet and the
# forest are exercised by retail_pipeline_tests/forecasting and by test_cli_run.
LEAN_FORECAST = {"ops": {"forecast": {"config": {"prophet_max_series": 0, "forest_max_series": 0}}}}


def test_resources(layout: DataLayout, warehouse_url: str) -> dict:
    """The real resources, on a temporary data folder and database."""
    return {"data_dir": DataDirResource(root=str(layout.root)),
            "warehouse": WarehouseResource(url=warehouse_url),
            "io_manager": ParquetIOManagerResource(base_path=str(layout.io))}


def materialize_everything(layout: DataLayout, warehouse_url: str, instance=None, run_config=None):
    definitions = defs()
    return dg.materialize(
        [*definitions.assets, *definitions.asset_checks],
        selection=REFRESH,
        resources=test_resources(layout, warehouse_url),
        instance=instance,
        run_config=LEAN_FORECAST if run_config is None else run_config,
    )
