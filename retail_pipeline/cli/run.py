"""`retail-pipeline run`: materialise everything once, headless, then say where results are."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)  # paths stay on one line, whatever the terminal width


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        if_never_run: Annotated[bool, typer.Option(
            "--if-never-run", help="Do nothing when refresh_all already succeeded in this instance "
                                   "(what `make dev` uses on every start).")] = False,
    ) -> None:
        """Run the refresh_all job once in this process (recorded in DAGSTER_HOME) and summarise."""
        import dagster as dg

        from retail_pipeline.definitions import defs
        from retail_pipeline.platform.layout import DataLayout
        from retail_pipeline.platform.warehouse import Warehouse, url_from_env

        definitions = defs()
        job = definitions.resolve_job_def("refresh_all")
        with dg.DagsterInstance.get() as instance:
            if if_never_run:
                done = instance.get_runs(dg.RunsFilter(job_name=job.name, statuses=[dg.DagsterRunStatus.SUCCESS]),
                                         limit=1)
                if done:
                    console.print(f"refresh_all already succeeded (run {done[0].run_id}); not running it again")
                    return
            result = job.execute_in_process(
                instance=instance, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
        layout = DataLayout.from_env()
        warehouse = Warehouse(url_from_env(layout.root))
        console.print(f"Warehouse: {warehouse.engine.url.render_as_string(hide_password=True)}")
        table = Table()
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, rows in warehouse.row_counts().items():
            table.add_row(name, f"{rows:,}")
        console.print(table)
        console.print("Charts:")
        for chart in sorted(layout.charts.glob("*.png")):
            console.print(f"  {chart}")
        if not result.success:
            failed = [e.step_key for e in result.all_events if e.is_step_failure]
            console.print(f"[red]run {result.run_id} failed in: {', '.join(failed)}[/red]")
            raise typer.Exit(1)
        console.print(f"[green]run {result.run_id} succeeded[/green]")
