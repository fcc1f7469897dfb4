"""`retail-pipeline run` (what `make run` calls): one headless refresh and a summary."""

import shutil
from pathlib import Path

from typer.testing import CliRunner

from retail_pipeline.cli import app
from retail_pipeline.platform.warehouse import Warehouse


def test_run_materialises_everything_and_prints_where_results_are(seeded_layout, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("RETAIL_DATA_DIR", str(seeded_layout.root))
    monkeypatch.delenv("RETAIL_WAREHOUSE_URL", raising=False)
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    warehouse_file = seeded_layout.root / "warehouse.db"
    assert f"Warehouse: sqlite:///{warehouse_file}" in result.output
    counts = Warehouse(f"sqlite:///{warehouse_file}").row_counts()
    for table in ("daily_sales", "kpi_summary", "top_customers"):
        assert table in result.output and counts[table] > 0
    assert str(seeded_layout.charts / "category_performance.png") in result.output
    assert "succeeded" in result.output
    assert (home / "history" / "runs.db").exists()  # recorded in the instance the UI reads
    # progress: every step of the job is named when it starts and when it ends
    from retail_pipeline.definitions import defs

    steps = {node.name for node in defs().resolve_job_def("refresh_all").nodes}
    assert len(steps) > 20
    lines = result.output.splitlines()
    for step in steps:
        assert any(line.endswith(f"start   {step}") for line in lines), step
        assert any(f"done    {step} (" in line for line in lines), step


def test_if_never_run_runs_only_the_first_time(seeded_layout, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("RETAIL_DATA_DIR", str(seeded_layout.root))
    monkeypatch.delenv("RETAIL_WAREHOUSE_URL", raising=False)
    first = CliRunner().invoke(app, ["run", "--if-never-run"])
    assert first.exit_code == 0 and "succeeded" in first.output, first.output
    second = CliRunner().invoke(app, ["run", "--if-never-run"])
    assert second.exit_code == 0 and "already succeeded" in second.output


def test_the_run_does_not_keep_step_outputs_alive(tmp_path):
    """execute_in_process keeps every output until the run ends; the CLI's run frees each one
    once its consumers have loaded it from the IO manager (weak references tell)."""
    import gc
    import uuid
    import weakref

    import dagster as dg
    import pandas as pd

    from retail_pipeline.cli.run import execute_without_output_capture

    made: list[weakref.ref] = []

    @dg.asset
    def first() -> pd.DataFrame:
        frame = pd.DataFrame({"x": range(1000)})
        made.append(weakref.ref(frame))
        return frame

    @dg.asset
    def second(first: pd.DataFrame) -> pd.DataFrame:
        return first.assign(y=1)

    @dg.asset(deps=[second])
    def last() -> None:
        gc.collect()
        alive.append(made[-1]() is not None)

    io = dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))
    job = dg.Definitions(assets=[first, second, last], resources={"io_manager": io},
                         jobs=[dg.define_asset_job("all", executor_def=dg.in_process_executor)]
                         ).resolve_job_def("all")
    alive: list[bool] = []
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance)
        assert alive == [True]  # the reference: the output capture holds `first` to the end
        alive.clear()
        result = execute_without_output_capture(job, instance, str(uuid.uuid4()), {})
    assert result.success and alive == [False]
