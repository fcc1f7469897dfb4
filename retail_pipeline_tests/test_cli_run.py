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
