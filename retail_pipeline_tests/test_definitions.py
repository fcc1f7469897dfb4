"""The code location loads and holds every asset, check, job and schedule."""

import ast
from pathlib import Path

import dagster as dg
import pytest

from retail_pipeline.definitions import defs

FOUNDATION_ASSETS = {
    "raw_transactions", "raw_customers", "raw_products", "raw_shops", "raw_daily_totals",
    "sales_features", "daily_sales", "kpi_summary", "top_customers", "best_selling_products",
    "revenue_by_category", "sales_by_month", "sales_by_weekday",
    "category_performance_chart", "temporal_patterns_chart",
}


@pytest.fixture(scope="module")
def repo():
    return defs().get_repository_def()


def test_every_foundation_asset_is_defined(repo):
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert FOUNDATION_ASSETS <= keys


def test_every_asset_has_description_group_and_kinds(repo):
    for key in repo.asset_graph.get_all_asset_keys():
        node = repo.asset_graph.get(key)
        if node.is_external:
            continue
        assert node.description, f"{key} has no description"
        assert node.group_name and node.group_name != "default", f"{key} has no group"
        assert node.kinds, f"{key} has no kinds"


def test_quality_checks_are_defined(repo):
    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    for entity in ("transactions", "customers", "products", "shops", "daily_totals"):
        assert (f"raw_{entity}", "unique_key") in checks
    assert {("raw_transactions", "no_zero_quantities"), ("raw_transactions", "non_negative_prices"),
            ("raw_transactions", "referential_coverage"), ("raw_products", "positive_standard_prices"),
            ("sales_features", "one_row_per_transaction"), ("daily_sales", "daily_sales_is_a_panel")} <= checks


def test_refresh_job_and_30_minute_schedule_running_by_default(repo):
    job = repo.get_job("refresh_all")
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert FOUNDATION_ASSETS <= selected
    schedule = repo.get_schedule_def("refresh_every_30_minutes")
    assert schedule.cron_schedule == "*/30 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "refresh_all"


WIRING = {"defs", "cli"}  # the only packages that may import Dagster


def logic_packages() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "retail_pipeline"
    return sorted(p.name for p in root.iterdir()
                  if (p / "__init__.py").exists() and p.name not in WIRING)


def test_every_logic_package_has_its_tests_folder():
    tests = Path(__file__).resolve().parent
    missing = [p for p in logic_packages() if not (tests / p).is_dir()]
    assert not missing, f"packages without a retail_pipeline_tests/<name>/ folder: {missing}"


def test_logic_packages_do_not_import_dagster():
    root = Path(__file__).resolve().parents[1] / "retail_pipeline"
    packages = logic_packages()
    assert {"contract", "platform", "sample", "ingest", "sales", "analytics",
            "forecasting"} <= set(packages)
    for package in packages:
        for path in (root / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n.split(".")[0] == "dagster" for n in names), f"{path} imports dagster"


def test_loading_the_code_location_leaves_heavy_libraries_to_the_assets_that_use_them():
    """Every run worker loads the definitions: an ingestion run must not pay for plotting and
    model libraries it never calls."""
    import subprocess
    import sys

    probe = ("import sys; from retail_pipeline.definitions import defs; defs(); "
             "print(' '.join(m for m in ('seaborn', 'matplotlib', 'sklearn', 'statsmodels', 'prophet') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert loaded == ""


def test_every_config_field_has_a_description():
    """The launchpad documents every knob: each dg.Config field carries a description."""
    definitions = defs()
    missing = []
    for assets_def in definitions.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        schema = assets_def.op.config_schema
        fields = getattr(getattr(schema, "config_type", None), "fields", None) or {}
        for name, field in fields.items():
            if not field.description:
                missing.append(f"{assets_def.op.name}.{name}")
    assert not missing, f"config fields without a description: {missing}"
