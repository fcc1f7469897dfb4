"""`retail-pipeline doctor`: remove what killed runs left behind, one line per thing removed.

The same clean-up runs at the start of every ingestion and at every tick of the upload
sensor (``retail_pipeline.ingest.cleanup``): stale temporary files in store/, archive/,
quarantine/, backups/, charts/ and models/ (older than ``--grace`` seconds, so a write
still running is never hit), unfinished multi-table commits, backups (and history files)
of ingestions that never finished and changed nothing; then the warehouse's orphan
staging tables are dropped. Exits 1 when something needs a person (a kept backup).
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from retail_pipeline.ingest.cleanup import clean
from retail_pipeline.platform import settings
from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.platform.warehouse import Warehouse

console = Console(highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        grace: Annotated[float | None, typer.Option(
            help="Only remove temporary files untouched for this many seconds "
                 "(default: RETAIL_TEMP_GRACE_SECONDS).")] = None,
    ) -> None:
        """Remove stale temporary files, orphan backups and orphan warehouse staging tables."""
        layout = DataLayout.from_env()
        report = clean(layout, grace_seconds=grace,
                       log=lambda line: console.print(line, markup=False, soft_wrap=True))
        url = settings.warehouse_url(layout.root)
        missing = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
        dropped = [] if missing else Warehouse(url).drop_orphan_staging()
        for table in dropped:
            console.print(f"dropped orphan staging table {table} from the warehouse", markup=False)
        if not report.removed and not dropped:
            console.print(f"nothing to clean in {layout.root} and its warehouse", markup=False)
        if report.kept:
            raise typer.Exit(1)
