"""`retail-pipeline models`: list, delete and clear the trained-model registry.

The registry lives in ``RETAIL_DATA_DIR/models`` (``DataLayout.models``); see
``retail_pipeline.platform.registry`` for what each version holds. Retraining is done
through the forecasting assets' ``force_retrain`` config, not here.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.platform.registry import ModelRegistry, RegistryError, UnknownModelError

console = Console()


def _registry() -> ModelRegistry:
    return ModelRegistry(DataLayout.from_env().models)


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Trained forecasting models: list, delete, clear.",
                         no_args_is_help=True)

    @models.command("list")
    def list_models() -> None:
        """List every saved model version (newest pointer marked as latest)."""
        registry = _registry()
        try:
            frame = registry.list()
        except RegistryError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        if frame.empty:
            console.print(f"no models in {registry.root}")
            return
        table = Table(title=f"models in {registry.root}")
        columns = ["version", "name", "model_type", "created_at", "latest", "training_window"]
        metric_cols = [c for c in ("metric_mase", "metric_smape", "metric_coverage80_conformal")
                       if c in frame]
        # the version id is what `models delete` takes: never shorten it, squeeze the rest
        table.add_column("version", no_wrap=True, min_width=int(frame["version"].str.len().max()))
        for column in columns[1:] + metric_cols:
            table.add_column(column.removeprefix("metric_"))
        for row in frame.itertuples(index=False):
            values = [str(getattr(row, c)) for c in columns]
            values += ["" if getattr(row, c) != getattr(row, c) else f"{getattr(row, c):.3f}"
                       for c in metric_cols]
            table.add_row(*values)
        console.print(table)

    @models.command("delete")
    def delete_model(version: str = typer.Argument(..., help="version id from `models list`")) -> None:
        """Delete one model version."""
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
        registry = _registry()
        if not yes and not typer.confirm(f"delete every model in {registry.root}?"):
            raise typer.Exit(1)
        count = registry.clear()
        console.print(f"deleted {count} model version(s) from {registry.root}")

    app.add_typer(models, name="models")
