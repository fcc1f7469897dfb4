"""`retail-pipeline models`: list, delete and clear the trained-model registry; rotate its key.

The registry lives in ``RETAIL_DATA_DIR/models`` (``DataLayout.models``); see
``retail_pipeline.platform.registry`` for what each version holds. Retraining is done
through the assets' ``force_retrain`` config, not here.

``models list`` fits 100 columns: version, model, created, latest and the main metric. Use
``--wide`` for every column or ``--json`` for machine-readable output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.platform.registry import ModelRegistry, RegistryError, UnknownModelError

NARROW = ["version", "name", "created_at", "latest"]
WIDE = ["version", "name", "model_type", "created_at", "latest", "training_window", "size_bytes"]


def _registry() -> ModelRegistry:
    return ModelRegistry(DataLayout.from_env().models)


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3f}"
    return str(value)


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Trained models: list, delete, clear, rotate the signing key.",
                         no_args_is_help=True)

    @models.command("list")
    def list_models(
        wide: Annotated[bool, typer.Option("--wide", help="Every column (needs ~200 columns).")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per version.")] = False,
    ) -> None:
        """List every saved model version (the latest version of each model marked)."""
        console = Console()  # sized by the terminal (or COLUMNS) at the time of the call
        registry = _registry()
        try:
            frame = registry.list()
        except RegistryError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        if as_json:
            typer.echo(frame.to_json(orient="records", indent=1))
            return
        if frame.empty:
            console.print(f"no models in {registry.root}")
            return
        frame = frame.assign(created_at=frame["created_at"].str.slice(0, 16).str.replace("T", " "),
                             latest=frame["latest"].map({True: "yes", False: ""}))
        metric_cols = [c for c in ("metric_mase", "metric_smape", "metric_coverage80_conformal")
                       if c in frame] if wide else [c for c in ("metric_mase",) if c in frame]
        columns = (WIDE if wide else NARROW) + metric_cols
        table = Table(title=f"{len(frame)} model version(s) in {registry.root}", title_justify="left")
        for column in columns:
            # the version id is what `models delete` takes: never cut it
            table.add_column(column.removeprefix("metric_"), no_wrap=column == "version",
                             overflow="fold")
        for row in frame[columns].itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)

    @models.command("delete")
    def delete_model(version: str = typer.Argument(..., help="version id from `models list`")) -> None:
        """Delete one model version."""
        console = Console()
        try:
            record = _registry().delete(version)
        except UnknownModelError as exc:
            console.print(f"[red]{exc.args[0]}[/red]")
            raise typer.Exit(1) from exc
        console.print(f"deleted {record.version} ({record.name})")

    @models.command("clear")
    def clear_models(yes: bool = typer.Option(False, "--yes", "-y",
                                              help="do not ask for confirmation")) -> None:
        """Delete every saved model version."""
        console = Console()
        registry = _registry()
        if not yes and not typer.confirm(f"delete every model in {registry.root}?"):
            raise typer.Exit(1)
        count = registry.clear()
        console.print(f"deleted {count} model version(s) from {registry.root}")

    @models.command("rotate-key")
    def rotate_key(
        old_key_file: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                                   help="File holding the key the index was signed with.")],
    ) -> None:
        """Re-sign the registry's index with the current key after checking it with the old one.

        Put the new key in place first (RETAIL_MODEL_REGISTRY_KEY or the key file), then run this.
        """
        console = Console()
        registry = _registry()
        try:
            count = registry.rotate_key(old_key_file.read_text().strip().encode())
        except RegistryError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        console.print(f"re-signed the index of {registry.root} ({count} version(s)) with the current key")

    app.add_typer(models, name="models")



