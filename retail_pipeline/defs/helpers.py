"""Dagster wiring every domain shares: metadata, served tables, chart assets, check results.

An asset body should read like a sentence (load, call the domain function, serve or
return with metadata); everything repeated around that lives here.
"""


import base64
import importlib
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pandas as pd

from retail_pipeline.platform.warehouse import History

PREVIEW_ROWS = 10
TABLE_KINDS = {"pandas", "sql"}
CHART_KINDS = {"seaborn", "png"}
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def _preview(frame: pd.DataFrame, rows: int) -> str:
    head = frame.head(rows)
    for column in head.columns:  # keep the Markdown table narrow and readable
        if head[column].dtype.kind == "f":
            head = head.assign(**{column: head[column].round(3)})
    return head.to_markdown(index=False) if len(head) else "_(no rows)_"


def table_metadata(frame: pd.DataFrame, preview_rows: int = PREVIEW_ROWS, **extra) -> dict:
    """Row count, column schema and a Markdown preview, plus any ``extra`` values."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()]
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(_preview(frame, preview_rows)),
        **extra,
    }


def chart_metadata(path: Path | str, **extra) -> dict:
    """The PNG's path and the picture inline (the UI opens it from the `chart` entry)."""
    path = Path(path)
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return {
        "path": dg.MetadataValue.path(str(path)),
        "chart": dg.MetadataValue.md(f"![{path.stem}](data:image/png;base64,{encoded})"),
        "size_bytes": dg.MetadataValue.int(path.stat().st_size),
        **extra,
    }


def serve(context: dg.AssetExecutionContext, warehouse, frame: pd.DataFrame, table: str, *,
          current: bool = True, history: History | None = None, history_table: str | None = None,
          output_name: str | None = None, **extra) -> dg.Output[pd.DataFrame]:
    """Write ``frame`` to the warehouse and return it as the asset's output with metadata.

    ``current``: replace table ``table`` atomically. ``history``: also append this run's rows
    to ``history_table`` (default ``<table>_history``, or ``table`` itself when
    ``current=False``) and trim it to the policy, in one transaction.
    """
    meta: dict = {"warehouse_table": table} if current else {}
    if current:
        warehouse.write_table(table, frame)
    if history is not None:
        target = history_table or (f"{table}_history" if current else table)
        stats = warehouse.append_history(target, frame, context.run_id, history)
        meta.update({"history_table": target, "history_rows_kept": stats["kept"],
                     "history_rows_deleted": stats["deleted"]})
    kwargs = {"output_name": output_name} if output_name else {}
    return dg.Output(frame, metadata=table_metadata(frame, **meta, **extra), **kwargs)


def resolve(dotted: str):
    """``"package.module:function"`` -> the function, imported only when first called.

    Chart modules import matplotlib and seaborn (seconds): runs that draw nothing (the
    per-upload ingestion) should not pay for them when the code location loads.
    """
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def chart_asset(name: str, *, group: str, draw: str, ins: Sequence[str], description: str,
                file_name: str | None = None) -> dg.AssetsDefinition:
    """An asset that draws ``draw(*inputs, path)`` into ``RETAIL_DATA_DIR/charts/<file>.png``."""
    file_name = file_name or f"{name.removesuffix('_chart')}.png"

    @dg.asset(name=name, group_name=group, kinds=CHART_KINDS,
              ins={i: dg.AssetIn(i) for i in ins}, required_resource_keys={"data_dir"},
              description=f"{description} (`data/charts/{file_name}`; the picture opens from "
                          "the `chart` entry of the latest materialisation).")
    def _chart(context: dg.AssetExecutionContext, **inputs) -> dg.MaterializeResult:
        path = context.resources.data_dir.layout.charts / file_name
        drawn = resolve(draw)(*(inputs[i] for i in ins), path)
        return dg.MaterializeResult(metadata=chart_metadata(drawn))

    return _chart


def check_result(offending: pd.DataFrame, severity: dg.AssetCheckSeverity,
                 **metadata) -> dg.AssetCheckResult:
    """Passed when ``offending`` is empty; its count and first rows go in the metadata."""
    sample = offending.head(PREVIEW_ROWS)
    return dg.AssetCheckResult(
        passed=offending.empty,
        severity=severity,
        metadata={
            "offending_rows": len(offending),
            **({"sample": dg.MetadataValue.md(sample.to_markdown(index=False))} if len(sample) else {}),
            **metadata,
        },
    )


def config_from_settings(name: str, settings_cls, doc: str, exclude: Sequence[str] = (),
                         **extra_fields) -> type[dg.Config]:
    """A ``dg.Config`` whose fields are the documented fields of a plain settings dataclass.

    Each field keeps the dataclass default and takes its launchpad description from the
    field's ``metadata["doc"]``, so the plain settings and the UI config cannot drift apart.
    ``extra_fields`` adds Dagster-only knobs as ``name=(type, Field(...))``.
    """
    import dataclasses
    import typing

    import pydantic

    hints = typing.get_type_hints(settings_cls)
    fields = {
        f.name: (hints[f.name], pydantic.Field(default=f.default, description=f.metadata["doc"]))
        for f in dataclasses.fields(settings_cls)
        if "doc" in f.metadata and f.name not in exclude
    }
    return pydantic.create_model(name, __base__=dg.Config, __doc__=doc, **fields, **extra_fields)


def settings_from_config(config: dg.Config, settings_cls, **overrides):
    """The plain settings object for a config made by ``config_from_settings``."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(settings_cls)}
    values = {k: v for k, v in config.model_dump().items() if k in names}
    return settings_cls(**{**values, **overrides})


def charts_markdown(definitions: dg.Definitions) -> str:
    """Every chart asset with its file and what it shows, for the README (a test compares)."""
    rows = ["| chart asset | group | file | what it shows |", "|---|---|---|---|"]
    graph = definitions.get_repository_def().asset_graph
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if "png" not in node.kinds:
            continue
        text, _, rest = (node.description or "").partition(" (`data/charts/")
        file_name = rest.split("`", 1)[0]
        rows.append(f"| `{key.to_user_string()}` | {node.group_name} | `{file_name}` | {text} |")
    return "\n".join(rows)
