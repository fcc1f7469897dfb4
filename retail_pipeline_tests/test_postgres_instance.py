"""The PostgreSQL deployment: Dagster's own storage and the warehouse both on PostgreSQL."""

import shutil
from pathlib import Path

import dagster as dg

from retail_pipeline.platform.warehouse import Warehouse
from retail_pipeline_tests.pipeline import materialize_everything

ROOT = Path(__file__).resolve().parents[1]


def test_deploy_config_stores_runs_in_postgres(postgres_url, seeded_layout, tmp_path, monkeypatch, small_sample):
    home = tmp_path / "pg_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = materialize_everything(seeded_layout, postgres_url, instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
        latest = instance.get_latest_materialization_event(dg.AssetKey("daily_sales"))
        assert latest is not None and latest.run_id == result.run_id
    warehouse = Warehouse(postgres_url)
    try:
        served = warehouse.read_table("daily_sales")
        lines = small_sample.transactions  # void lines and lines at price 0 count in no total
        counted = lines[lines["line_type"].ne("void") & lines["actual_price"].ne(0)]
        assert served["quantity"].sum() == counted["quantity"].sum()
        assert "runs" in warehouse.table_names()  # one database holds Dagster's tables and the warehouse
    finally:
        warehouse.dispose()
