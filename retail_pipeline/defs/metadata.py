"""Materialisation metadata every asset attaches: row count, schema, preview, charts."""


import base64
from pathlib import Path

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


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
    """The PNG's path and the picture itself, inline, so the Dagster UI shows it."""
    path = Path(path)
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return {
        "path": dg.MetadataValue.path(str(path)),
        "chart": dg.MetadataValue.md(f"![{path.stem}](data:image/png;base64,{encoded})"),
        "size_bytes": dg.MetadataValue.int(path.stat().st_size),
        **extra,
    }
