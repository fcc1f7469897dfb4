"""`retail-pipeline sample`: write the deterministic sample data set as canonical CSV files.

Beside the tables, the planted persona of every customer is written to a side file for
tests and demos, ``<out>/.truth/customer_personas.csv`` (``customer_id, persona``). It is
never part of an upload: the folder is hidden, and ``incoming/`` scans skip hidden names
(``ingest.incoming.scan``), so ingestion neither reads nor quarantines it, and the customers
table keeps to the contract.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.sample import SampleSize, generate

console = Console()
TRUTH_FOLDER = ".truth"  # hidden: never an upload (see the module docstring)
PERSONAS_FILE = "customer_personas.csv"


def _write_csv(frame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")  # the file sensor ignores dot files
    frame.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S")
    tmp.replace(path)


def write_sample(out: Path, size: SampleSize, seed: int, show_progress: bool = True) -> dict[str, Path]:
    """Generate the tables and write them as ``<entity>.csv`` into ``out``; returns their paths.

    The customers' planted personas go to the side file ``personas_path(out)``.
    """
    out.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not show_progress) as progress:
        task = progress.add_task("transactions", total=size.transactions)
        data = generate(size, seed, progress=lambda n: progress.advance(task, n))
        paths = {}
        for entity, frame in data.tables().items():
            path = out / f"{entity}.csv"
            _write_csv(frame, path)
            paths[entity] = path
        personas = data.truth.get("personas")
        if personas is not None:
            truth = out / TRUTH_FOLDER
            truth.mkdir(exist_ok=True)
            _write_csv(personas, personas_path(out))
    return paths


def personas_path(out: Path) -> Path:
    """Where ``write_sample`` puts the customers' planted personas (a side file, not an upload)."""
    return out / TRUTH_FOLDER / PERSONAS_FILE


def register(app: typer.Typer) -> None:
    @app.command()
    def sample(
        out: Annotated[Path | None, typer.Option(
            help="Folder to write to [default: RETAIL_DATA_DIR/incoming]")] = None,
        transactions: Annotated[int, typer.Option(help="Number of transactions.")] = SampleSize.transactions,
        shops: int = SampleSize.shops,
        products: int = SampleSize.products,
        customers: int = SampleSize.customers,
        years: Annotated[int, typer.Option(help="Years of history, from --start.")] = SampleSize.years,
        start: Annotated[str, typer.Option(help="First day of the history.")] = SampleSize.start,
        large: Annotated[bool, typer.Option(
            "--large", help="1,000,000 transactions, 60 shops, 800 products.")] = False,
        seed: Annotated[int, typer.Option(help="Same seed and size, same files.")] = 42,
    ) -> None:
        """Generate the sample retail data set (deterministic) as canonical CSV files."""
        size = SampleSize.large() if large else SampleSize(shops, products, customers, transactions, start, years)
        target = out or DataLayout.from_env().ensure().incoming
        paths = write_sample(target, size, seed)
        for entity, path in paths.items():
            console.print(f"{entity:>13}: {path}")
        if personas_path(target).exists():
            console.print(f"{'personas':>13}: {personas_path(target)} (side file for tests, never ingested)")
