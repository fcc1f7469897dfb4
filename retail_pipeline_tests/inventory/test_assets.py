"""The inventory group materialises on a small generated sample with the real resources."""

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.defs.ingest import assets as ingest_assets
from retail_pipeline.defs.inventory import assets as inv
from retail_pipeline.defs.sales import assets as sales_assets
from retail_pipeline.forecasting.panel import forecast_panel
from retail_pipeline.forecasting.pipeline import run_forecast
from retail_pipeline.forecasting.settings import ForecastSettings
from retail_pipeline_tests.pipeline import test_resources as real_resources

INVENTORY = [inv.product_supply, inv.stock_positions, inv.abc_classes, inv.demand_over_lead_time,
             inv.safety_stock_and_reorder_report, inv.reorder_now_matches_position,
             inv.purchase_plan_and_budget, inv.dashboard_metrics, inv.policy_simulation,
             inv.below_reorder_point_chart, inv.projected_stock_chart, inv.purchase_budget_chart,
             inv.service_level_chart]
TABLES = {"abc_classes", "demand_over_lead_time", "safety_stock_and_reorder_report",
          "purchase_plan", "purchase_budget", "dashboard_metrics", "policy_simulation"}


@dg.multi_asset(outs={"sales_forecast": dg.AssetOut(), "forecast_backtest": dg.AssetOut(),
                      "forecast_leaderboard": dg.AssetOut(),
                      "forecast_series_aliases": dg.AssetOut()})
def seasonal_naive_forecast(daily_sales: pd.DataFrame):
    """The forecasting step cut to its fastest model (the zoo is tested in forecasting/)."""
    result = run_forecast(forecast_panel(daily_sales),
                          ForecastSettings(horizon=14, models=("seasonal_naive",)))
    return result.forecast, result.errors, result.leaderboard, result.aliases


@pytest.fixture(scope="module")
def materialised(tmp_path_factory, small_sample):
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.platform.layout import DataLayout

    layout = DataLayout(tmp_path_factory.mktemp("inventory") / "shopdata").ensure()
    for name, frame in small_sample.tables().items():
        path = layout.incoming / f"{name}.csv"
        frame.to_csv(path, index=False)
        assert ingest_file(path, layout).accepted
    url = f"sqlite:///{layout.root / 'warehouse.db'}"
    raws = [getattr(ingest_assets, f"raw_{e}") for e in
            ("transactions", "products", "shops", "daily_totals", "stock_levels")]
    result = dg.materialize([*raws, sales_assets.daily_sales, seasonal_naive_forecast, *INVENTORY],
                            resources=real_resources(layout, url))
    return result, layout, url


def test_the_inventory_group_materialises_into_the_warehouse(materialised):
    result, layout, url = materialised
    assert result.success
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert TABLES <= set(sa.inspect(conn).get_table_names())
        report = pd.read_sql_table("safety_stock_and_reorder_report", conn)
        dashboard = pd.read_sql_table("dashboard_metrics", conn)
    engine.dispose()
    assert len(report) > 0
    assert (report["reorder_now"] == (report["inventory_position"] <= report["reorder_point"])).all()
    assert dashboard["organisation"].tolist() == ["shopdata"]  # the data folder's name
    assert dashboard["pairs_to_reorder_now"].iloc[0] == int(report["reorder_now"].sum())
    for chart in ("below_reorder_point", "projected_stock", "purchase_budget", "service_level"):
        assert (layout.charts / f"{chart}.png").read_bytes()[:4] == b"\x89PNG"
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


def test_planted_understocked_pairs_are_due_for_reorder(materialised, small_sample):
    result, _, _ = materialised
    report = result.output_for_node("safety_stock_and_reorder_report")
    planted = small_sample.truth["understocked_pairs"]
    keyed = report.set_index(["shop_id", "product_id"])
    # the sample's stock is consistent with its sales: pairs are in the report when they sold
    # in the last 90 days, the planted ones hold less than a lead time of demand
    in_report = [pair for pair in planted if pair in keyed.index]
    assert len(in_report) >= 0.9 * len(planted)
    flagged = keyed.loc[in_report, "reorder_now"]
    assert flagged.mean() >= 0.9
    plan = result.output_for_node("purchase_plan_and_budget", "purchase_plan")
    now = plan[plan["kind"] == "now"]
    assert len(now) == int((report["recommended_qty"] > 0).sum())
    assert now["cost"].sum() == pytest.approx(report["order_value"].sum())
    budget = result.output_for_node("purchase_plan_and_budget", "purchase_budget")
    assert budget["cost"].sum() == pytest.approx(plan["cost"].sum())


def test_the_simulation_reports_every_policy(materialised):
    result, _, _ = materialised
    sim = result.output_for_node("policy_simulation")
    assert set(sim["policy"]) == {"forecast_error", "textbook", "textbook_equal_service"}
    assert (sim["series"] > 0).all()
    # the small sample has fewer pairs than simulation_max_pairs: every one is replayed
    meta = result.asset_materializations_for_node("policy_simulation")[0].metadata
    replayed = meta["replayed_pairs"].value
    assert replayed == meta["eligible_pairs"].value == sim.groupby("policy")["series"].sum().iloc[0]
    assert meta["replayed_share"].value == 1.0
