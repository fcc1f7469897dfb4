"""`retail-pipeline run`: materialise everything once, headless, showing each step as it goes.

The job runs in a worker thread; this thread follows the run's event log and prints a line
when a step starts and when it ends (with its time), and a heartbeat every few seconds for
steps still running, so a long first materialisation never sits silent. At the end: a
table of the steps with their times, the served tables with row counts, the charts.
"""

import threading
import time
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)  # paths stay on one line, whatever the terminal width
HEARTBEAT_S = 5.0
POLL_S = 0.5


class StepProgress:
    """Turns the run's step events into lines: start, end with duration, heartbeats."""

    def __init__(self, out: Console, heartbeat_s: float = HEARTBEAT_S):
        self.out, self.heartbeat_s = out, heartbeat_s
        self.started: dict[str, float] = {}
        self.finished: dict[str, tuple[str, float]] = {}
        self.last_line = time.monotonic()
        self.t0 = time.monotonic()

    def _line(self, text: str) -> None:
        self.out.print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", markup=False)
        self.last_line = time.monotonic()

    def on_event(self, event_type: str, step_key: str, at: float) -> None:
        if event_type == "STEP_START":
            self.started[step_key] = at
            self._line(f"start   {step_key}")
        elif event_type in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            took = at - self.started.get(step_key, at)
            status = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED",
                      "STEP_SKIPPED": "skipped"}[event_type]
            self.finished[step_key] = (status, took)
            self._line(f"{status:<7} {step_key} ({took:.1f} s)")

    def heartbeat(self, now_wall: float) -> None:
        running = [k for k in self.started if k not in self.finished]
        if running and time.monotonic() - self.last_line >= self.heartbeat_s:
            parts = [f"{k} ({now_wall - self.started[k]:.0f} s)" for k in running]
            self._line(f"running {', '.join(parts)}")

    def summary(self) -> Table:
        table = Table(title="steps")
        table.add_column("step")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        for step, (status, took) in sorted(self.finished.items(), key=lambda kv: -kv[1][1]):
            table.add_row(step, status, f"{took:.1f}")
        return table


def follow(instance, run_id: str, worker: threading.Thread, progress: StepProgress) -> None:
    """Print the run's step events until ``worker`` (executing the run) has finished."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
             dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}
    seen = 0
    while True:
        alive = worker.is_alive()
        records = instance.all_logs(run_id, of_type=kinds)
        for entry in records[seen:]:
            progress.on_event(entry.dagster_event.event_type_value, entry.step_key or "?",
                              entry.timestamp)
        seen = len(records)
        if not alive:
            return
        progress.heartbeat(time.time())
        worker.join(POLL_S)


def execute_without_output_capture(job, instance, run_id: str, run_config: dict):
    """``job.execute_in_process(...)`` without holding every step's output until the end.

    ``JobDefinition.execute_in_process`` gives its run an output capture (for
    ``ExecuteInProcessResult.output_for_node``) that keeps every output value alive until the
    run ends: over ``refresh_all`` at 10M transactions that held about 8 GB of frames after
    ``sales_features``. Every output here goes to the Parquet IO manager anyway, so the CLI
    runs the same internals with capturing off (dagster 1.13.27, pinned in ``uv.lock``).
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import (
        core_execute_in_process,
        merge_run_tags,
        type_check_and_normalize_args,
    )

    run_config, op_selection, asset_selection, resource_defs, _, input_values = (
        type_check_and_normalize_args(run_config=run_config))
    ephemeral = job.as_ephemeral_job(resource_defs=resource_defs, input_values=input_values,
                                     op_selection=op_selection, asset_selection=asset_selection)
    tags = merge_run_tags(job_def=job, partition_key=None, tags=None,
                          asset_selection=asset_selection, instance=instance,
                          run_config=run_config)
    return core_execute_in_process(job=InMemoryJob(job_def=ephemeral), run_config=run_config,
                                   instance=instance, output_capturing_enabled=False,
                                   raise_on_error=False, run_tags=tags, run_id=run_id)


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
        from retail_pipeline.platform import settings
        from retail_pipeline.platform.layout import DataLayout
        from retail_pipeline.platform.warehouse import Warehouse

        definitions = defs()
        job = definitions.resolve_job_def("refresh_all")
        outcome: dict = {}
        with dg.DagsterInstance.get() as instance:
            if if_never_run:
                done = instance.get_runs(dg.RunsFilter(job_name=job.name, statuses=[dg.DagsterRunStatus.SUCCESS]),
                                         limit=1)
                if done:
                    console.print(f"refresh_all already succeeded (run {done[0].run_id}); not running it again")
                    return
            run_id = str(uuid.uuid4())
            console.print(f"run {run_id}: refresh_all, {len(job.asset_layer.executable_asset_keys)} "
                          "assets in one process")

            def execute() -> None:
                try:
                    outcome["result"] = execute_without_output_capture(
                        job, instance, run_id,
                        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
                except BaseException as exc:  # reported below, after the progress stops
                    outcome["error"] = exc

            worker = threading.Thread(target=execute, name="refresh_all", daemon=True)
            progress = StepProgress(console)
            worker.start()
            follow(instance, run_id, worker, progress)
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
        console.print(progress.summary())
        layout = DataLayout.from_env()
        warehouse = Warehouse(settings.warehouse_url(layout.root))
        console.print(f"Warehouse: {warehouse.engine.url.render_as_string(hide_password=True)}")
        table = Table()
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, rows in warehouse.row_counts().items():
            table.add_row(name, f"{rows:,}")
        console.print(table)
        warehouse.dispose()
        console.print("Charts:")
        for chart in sorted(layout.charts.glob("*.png")):
            console.print(f"  {chart}")
        if not result.success:
            failed = [e.step_key for e in result.all_events if e.is_step_failure]
            console.print(f"[red]run {result.run_id} failed in: {', '.join(failed)}[/red]")
            raise typer.Exit(1)
        console.print(f"[green]run {result.run_id} succeeded[/green]")
