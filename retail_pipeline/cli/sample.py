"""`retail-pipeline sample`: write the deterministic sample data set as canonical CSV files.

Sizes: ``--scale small|default|large|xlarge`` (``retail_pipeline.sample.size``), each option
(``--transactions``, ``--shops``, ...) overriding the preset. Above
``size.CHUNKED_ABOVE`` transactions (xlarge: 10 million), or with ``--chunk-lines``, the
transactions are generated chunk by chunk (``retail_pipeline.sample.chunked``) and written as
``transactions-0001.csv``, ``transactions-0002.csv``, ... of at most ``--chunk-lines`` sale
lines each (1,000,000 by default: about 110 MB a file, far below ``RETAIL_MAX_UPLOAD_MB``, and
ingested one after the other like any uploads), so neither the generator nor one upload ever
holds all of them.

Beside the tables, the planted persona of every customer is written to a side file for
tests and demos, ``<out>/.truth/customer_personas.csv`` (``customer_id, persona``). It is
never part of an upload: the folder is hidden, and ``incoming/`` scans skip hidden names
(``ingest.incoming.scan``), so ingestion neither reads nor quarantines it, and the customers
table keeps to the contract.
"""

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.sample import SampleSize, generate
from retail_pipeline.sample.chunked import CHUNK_LINES, ChunkedSample
from retail_pipeline.sample.size import SCALES

console = Console()
TRUTH_FOLDER = ".truth"  # hidden: never an upload (see the module docstring)
PERSONAS_FILE = "customer_personas.csv"


def _write_csv(frame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")  # the file sensor ignores dot files
    frame.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S")
    tmp.replace(path)


def write_sample(out: Path, size: SampleSize, seed: int, show_progress: bool = True,
                 chunk_lines: int | None = None) -> dict[str, Path]:
    """Generate the tables and write them as ``<entity>.csv`` into ``out``; returns their paths.

    Chunked (``size.chunked`` or ``chunk_lines`` given): the transactions go to
    ``transactions-0001.csv``, ... (keys ``transactions-0001``, ...). The customers' planted
    personas go to the side file ``personas_path(out)``.
    """
    out.mkdir(parents=True, exist_ok=True)
    chunked = chunk_lines is not None or size.chunked
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not show_progress) as progress:
        if chunked:  # two passes over the lines (see retail_pipeline.sample.chunked)
            task = progress.add_task("transactions (2 passes)", total=2 * size.transactions)
        else:
            task = progress.add_task("transactions", total=size.transactions)

        def advance(n: int) -> None:
            progress.advance(task, n)

        paths = {}
        if chunked:
            data = ChunkedSample(size, seed, chunk_lines or CHUNK_LINES, progress=advance)
            for k, chunk in enumerate(data.transactions(), start=1):
                paths[f"transactions-{k:04d}"] = _write(chunk, out, f"transactions-{k:04d}")
            tables, truth = data.tables(), data.truth
        else:
            sample = generate(size, seed, progress=advance)
            tables, truth = sample.tables(), sample.truth
        for entity, frame in tables.items():
            paths[entity] = _write(frame, out, entity)
        personas = truth.get("personas")
        if personas is not None:
            truth = out / TRUTH_FOLDER
            truth.mkdir(exist_ok=True)
            _write_csv(personas, personas_path(out))
    return paths


def _write(frame, out: Path, name: str) -> Path:
    path = out / f"{name}.csv"
    _write_csv(frame, path)
    return path


def personas_path(out: Path) -> Path:
    """Where ``write_sample`` puts the customers' planted personas (a side file, not an upload)."""
    return out / TRUTH_FOLDER / PERSONAS_FILE


def register(app: typer.Typer) -> None:
    @app.command()
    def sample(
        out: Annotated[Path | None, typer.Option(
            help="Folder to write to [default: RETAIL_DATA_DIR/incoming]")] = None,
        scale: Annotated[str, typer.Option(
            help="Preset size: small (20k transactions), default (120k), large (1M: 60 shops, 800 products, "
                 "30k customers), xlarge (10M: 200 shops, 5,000 products, 300k customers; written in chunks). "
                 "The options below override it.")] = "default",
        transactions: Annotated[int | None, typer.Option(help="Number of transactions.")] = None,
        shops: Annotated[int | None, typer.Option(help="Number of shops.")] = None,
        products: Annotated[int | None, typer.Option(help="Number of products.")] = None,
        customers: Annotated[int | None, typer.Option(help="Number of customers.")] = None,
        years: Annotated[int | None, typer.Option(help="Years of history, from --start.")] = None,
        start: Annotated[str | None, typer.Option(help="First day of the history.")] = None,
        large: Annotated[bool, typer.Option(
            "--large", help="Same as --scale large.")] = False,
        chunk_lines: Annotated[int | None, typer.Option(
            help="Write the transactions in files of at most this many sale lines (plus their returns), "
                 f"generated chunk by chunk [default: {CHUNK_LINES:,} above 2,000,000 transactions, "
                 "else one file].")] = None,
        seed: Annotated[int, typer.Option(help="Same seed and size, same files.")] = 42,
    ) -> None:
        """Generate the sample retail data set (deterministic) as canonical CSV files."""
        if large:
            scale = "large"
        if scale not in SCALES:
            raise typer.BadParameter(f"unknown scale {scale!r}; one of {', '.join(SCALES)}", param_hint="--scale")
        if chunk_lines is not None and chunk_lines < 1:
            raise typer.BadParameter(f"must be at least 1, got {chunk_lines}", param_hint="--chunk-lines")
        given = {"transactions": transactions, "shops": shops, "products": products, "customers": customers,
                 "years": years, "start": start}
        size = replace(SCALES[scale](), **{k: v for k, v in given.items() if v is not None})
        target = out or DataLayout.from_env().ensure().incoming
        paths = write_sample(target, size, seed, chunk_lines=chunk_lines)
        for entity, path in paths.items():
            console.print(f"{entity:>17}: {path}")
        if personas_path(target).exists():
            console.print(f"{'personas':>17}: {personas_path(target)} (side file for tests, never ingested)")
