"""The IO manager every asset hands its DataFrame to: one Parquet file per asset (and partition).

Built on Dagster's ``UPathIOManager``, so the base path can be a local folder (default
``RETAIL_DATA_DIR/io``) or any fsspec URL (``s3://...``, ``gs://...``) that every worker of a
distributed executor can reach. Only DataFrames pass through it: fitted models go to the
model registry, and chart assets return metadata only.
"""


import dagster as dg
from pydantic import Field
from upath import UPath

from retail_pipeline.platform.frames import from_parquet_bytes, to_parquet_bytes


class ParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj, path: UPath) -> None:
        data = to_parquet_bytes(obj)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.rename(path)  # a reader never sees a half-written file (atomic on a local disk)

    def load_from_path(self, context: dg.InputContext, path: UPath):
        """An input declared with ``AssetIn(metadata={"columns": [...]})`` reads only those
        columns (the KPI steps read 16 of the 35 columns of ``sales_features``)."""
        columns = (context.definition_metadata or {}).get("columns")
        return from_parquet_bytes(path.read_bytes(), list(columns) if columns else None)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        """A run over several partitions (e.g. every forecast bucket in one run) returns
        ``{partition: frame}``: each frame goes to its partition's own file."""
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            for key, path in self._get_paths_for_partitions(context).items():
                self.make_directory(path.parent)
                self.dump_to_path(context=context, obj=obj[key], path=path)
            return
        super().handle_output(context, obj)


class ParquetIOManagerResource(dg.ConfigurableIOManagerFactory):
    """Stores every asset output as Parquet under ``base_path``."""

    base_path: str = Field(description="Folder or fsspec URL (s3://bucket/prefix) under which "
                                       "each asset's output is one Parquet file; every worker "
                                       "must reach it. Default: RETAIL_IO_BASE.")

    def create_io_manager(self, context) -> ParquetIOManager:
        return ParquetIOManager(base_path=UPath(self.base_path))
