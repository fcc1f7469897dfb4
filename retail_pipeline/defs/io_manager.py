"""The IO manager every asset hands its DataFrame to: one Parquet file per asset (and partition).

Built on Dagster's ``UPathIOManager``, so the base path can be a local folder (default
``RETAIL_DATA_DIR/io``) or any fsspec URL (``s3://...``, ``gs://...``) that every worker of a
distributed executor can reach. Only DataFrames pass through it: fitted models go to the
model registry, and chart assets return metadata only.

Frames stream straight to and from the file (no Parquet bytes copy in memory beside the
frame), an input reads only the columns its step declares (``input_columns``), and the
memory a step freed goes back to the operating system before the next load and after each
write (``platform.memory.release_memory``), so one in-process run of the whole graph does
not keep every step's peak.
"""

import json

import dagster as dg
from pydantic import Field
from upath import UPath

from retail_pipeline.platform.frames import read_parquet, write_parquet
from retail_pipeline.platform.memory import release_memory

COLUMNS_TAG = "retail_pipeline/input_columns"


def reads(columns) -> dg.AssetIn:
    """An asset input that loads only ``columns`` of the upstream table (``load_from_path``)."""
    return dg.AssetIn(metadata={"columns": list(columns)})


def input_columns(**columns_by_input: list[str]) -> dict[str, str]:
    """Op tags that make the IO manager load only ``columns`` for each named input.

    For inputs that cannot carry ``AssetIn(metadata={"columns": [...]})``: Dagster refuses
    metadata on the input of an asset check that reads the asset it checks, so a check
    declares its columns with ``op_tags=input_columns(raw_transactions=[...])``.
    """
    return {COLUMNS_TAG: json.dumps(columns_by_input)}


def _is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def _columns(context: dg.InputContext) -> list[str] | None:
    """The columns an input declared (``AssetIn`` metadata or ``input_columns`` tags), or
    None for all of them."""
    columns = (context.definition_metadata or {}).get("columns")
    if columns is None and context.has_input_name:
        try:
            tagged = context.op_def.tags.get(COLUMNS_TAG)
        except dg.DagsterInvariantViolationError:  # loaded outside a run: no op
            tagged = None
        columns = json.loads(tagged).get(context.name) if tagged else None
    return list(columns) if columns else None


class ParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        if _is_local(tmp):
            write_parquet(obj, tmp.path)
        else:
            with tmp.open("wb") as file:
                write_parquet(obj, file)
        tmp.rename(path)  # a reader never sees a half-written file (atomic on a local disk)
        release_memory()  # the Arrow copy of the frame is freed: give its pages back

    def load_from_path(self, context: dg.InputContext, path: UPath):
        """An input declared with ``AssetIn(metadata={"columns": [...]})`` or with
        ``input_columns`` tags reads only those columns (a KPI step reads ~10 of the ~46
        columns of ``sales_features``)."""
        release_memory()  # what the previous step freed, before this one loads its inputs
        if _is_local(path):
            return read_parquet(path.path, _columns(context))
        with path.open("rb") as file:
            return read_parquet(file, _columns(context))

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
