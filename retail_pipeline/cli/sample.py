"""`retail-pipeline sample`: write the deterministic sample data set as canonical CSV files."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.sample import SampleSize, generate

console = Console()


def write_sample(out: Path, size: SampleSize, seed: int, show_progress: bool = True) -> dict[str, Path]:
    """Generate the tables and write them as ``<entity>.csv`` into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not show_progress) as progress:
        task = progress.add_task("transactions", total=size.transactions)
        data = generate(size, seed, progress=lambda n: progress.advance(task, n))
        paths = {}
        for entity, frame in data.tables().items():
            path = out / f"{entity}.csv"
            tmp = path.with_name(f".{path.name}.tmp")  # the file sensor ignores dot files
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S")
            tmp.replace(path)
            paths[entity] = path
    return paths


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
