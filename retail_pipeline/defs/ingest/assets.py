"""The consolidated entity tables as assets: the entry point of the asset graph.

Uploads are validated and consolidated by the ingestion step (``uploads.py``); these assets
read the current version of each entity from the table store and re-check it against the
contract, so that everything downstream works on typed, validated frames.
"""


import dagster as dg
import pandas as pd

from retail_pipeline.contract import ENTITIES, empty_frame, validate
from retail_pipeline.defs.helpers import table_metadata
from retail_pipeline.defs.resources import DataDirResource

GROUP = "ingest"


def _describe(entity: str) -> str:
    spec = ENTITIES[entity]
    columns = ", ".join(f"`{c.name}` ({c.rule()})" for c in spec.columns)
    return (f"{spec.doc} Current consolidated `{entity}` table from the table store, typed and "
            f"validated against the data contract; key: {', '.join(spec.key)}. Columns: {columns}. "
            "Extra columns of the uploads are kept as text. Empty until the first upload of this entity.")


def raw_table_asset(entity: str) -> dg.AssetsDefinition:
    """One asset per contract entity; they differ only in the entity they read."""

    @dg.asset(
        name=f"raw_{entity}",
        group_name=GROUP,
        kinds={"pandas", "parquet"},
        description=_describe(entity),
        tags={"entity": entity},
        deps=["upload"],  # lineage: uploads are consolidated into this table
    )
    def _raw(context: dg.AssetExecutionContext, data_dir: DataDirResource) -> dg.Output[pd.DataFrame]:
        store = data_dir.store
        if store.exists(entity):
            frame = validate(store.read(entity), entity, file=str(store.path(entity)))
            source = str(store.path(entity))
        else:
            context.log.warning(f"no {entity} uploaded yet: the table is empty")
            frame, source = empty_frame(entity), "(no upload yet)"
        return dg.Output(frame, metadata=table_metadata(frame, source=dg.MetadataValue.text(source)))

    return _raw


raw_transactions = raw_table_asset("transactions")
raw_customers = raw_table_asset("customers")
raw_products = raw_table_asset("products")
raw_shops = raw_table_asset("shops")
raw_daily_totals = raw_table_asset("daily_totals")
raw_stock_levels = raw_table_asset("stock_levels")
raw_marketing_spend = raw_table_asset("marketing_spend")
raw_marketing_outcomes = raw_table_asset("marketing_outcomes")
raw_customer_profiles = raw_table_asset("customer_profiles")
raw_revenue_history = raw_table_asset("revenue_history")
