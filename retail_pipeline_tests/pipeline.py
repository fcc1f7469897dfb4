"""Running the whole refresh graph in a test, with real resources."""

import dagster as dg

from retail_pipeline.definitions import defs
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.domain.layout import DataLayout

REFRESH = dg.AssetSelection.all() - dg.AssetSelection.groups("uploads")


def materialize_everything(layout: DataLayout, warehouse_url: str, instance=None, run_config=None):
    definitions = defs()
    return dg.materialize(
        [*definitions.assets, *definitions.asset_checks],
        selection=REFRESH,
        resources={"data_dir": DataDirResource(root=str(layout.root)),
                   "warehouse": WarehouseResource(url=warehouse_url)},
        instance=instance,
        run_config=run_config,
    )
