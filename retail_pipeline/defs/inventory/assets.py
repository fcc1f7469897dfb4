"""Inventory assets: supply attributes, stock positions, classes, demand over the lead time,
the safety-stock and reorder report, purchase plan and budget, dashboard, policy replay, charts.

The computations live in ``retail_pipeline.inventory`` (plain pandas / numpy / scipy); these
assets wire them to the ingested tables, the forecast, the warehouse and the chart folder.
Each asset's config holds only the knobs it uses (``InventorySettings`` documents them all).
The computation modules (scipy, seaborn) are imported inside the assets that use them, so
that loading the code location for an ingestion run does not pay for them.
"""

import dataclasses

import dagster as dg
import pandas as pd

from retail_pipeline.defs.helpers import (
    ERROR,
    TABLE_KINDS,
    chart_asset,
    check_result,
    config_from_settings,
    serve,
    settings_from_config,
    table_metadata,
)
from retail_pipeline.defs.io_manager import reads
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.inventory.columns import (
    BACKTEST_COLUMNS,
    CLASS_SALES_COLUMNS,
    PANEL_SALES_COLUMNS,
)
from retail_pipeline.inventory.settings import InventorySettings
from retail_pipeline.inventory.supply import (
    check_stock_references,
    current_positions,
    supply_attributes,
)

GROUP = "inventory"
_ALL = [f.name for f in dataclasses.fields(InventorySettings)]
# the steps read only the columns they use of the large inputs
PANEL_IN = reads(PANEL_SALES_COLUMNS)


def _config(name: str, doc: str, *fields: str) -> type[dg.Config]:
    return config_from_settings(name, InventorySettings, doc,
                                exclude=[f for f in _ALL if f not in fields])


SupplyConfig = _config("SupplyConfig", "Defaults for products whose upload leaves a supply "
                       "column out or empty.", "unit_cost_share", "lead_time_days",
                       "lead_time_std_days", "order_cost", "holding_cost_rate", "min_order_qty",
                       "pack_size")
ClassConfig = _config("ClassConfig", "ABC/XYZ thresholds and the service level per class.",
                      "service_a", "service_b", "service_c", "abc_a_share", "abc_b_share",
                      "xyz_x_cv", "xyz_y_cv", "abc_window_days")
DemandConfig = _config("DemandConfig", "Review period and the window for unforecast pairs.",
                       "review_period_days", "recent_days")
ReorderConfig = _config("ReorderConfig", "How each class's service target is spread over its "
                        "series.", "service_allocation", "min_series_service")
DashboardConfig = _config("DashboardConfig", "The organisation the dashboard row is named after.",
                          "organisation")
SimulationConfig = _config("SimulationConfig", "How the policy replay runs (classes and their "
                           "targets come from `abc_classes`).", "simulation_weeks",
                           "simulation_seed", "simulation_max_pairs", "simulation_lost_sales",
                           "review_period_days", "service_a", "service_b", "service_c",
                           "service_allocation", "min_series_service")


def _settings(config: dg.Config) -> InventorySettings:
    return settings_from_config(config, InventorySettings)


@dg.asset(group_name=GROUP, kinds={"pandas"},
          description="Supply attributes per product (unit_cost, lead_time_days, "
                      "lead_time_std_days, order_cost, holding_cost_rate per year, "
                      "min_order_qty, pack_size, optional service_level) parsed from the "
                      "products' extra columns; empty or absent values take the config "
                      "defaults (unit cost: a share of standard_price). A value that is not a "
                      "number or out of range fails the run naming product, row and column.")
def product_supply(config: SupplyConfig, raw_products: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    frame = supply_attributes(raw_products, _settings(config), file="products")
    return dg.Output(frame, metadata=table_metadata(frame))


@dg.asset(group_name=GROUP, kinds={"pandas"},
          description="The current stock position per shop x product: the newest `stock_levels` "
                      "snapshot (on hand, on order, expected arrival). Unknown shop or product "
                      "ids fail the run with file, row, column and rule. Empty until stock "
                      "levels are uploaded.")
def stock_positions(raw_stock_levels: pd.DataFrame, raw_products: pd.DataFrame,
                    raw_shops: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    check_stock_references(raw_stock_levels, raw_products, raw_shops, file="stock_levels")
    frame = current_positions(raw_stock_levels)
    return dg.Output(frame, metadata=table_metadata(frame, snapshots=len(raw_stock_levels)))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          ins={"daily_sales": reads(CLASS_SALES_COLUMNS)},
          description="ABC class per product by revenue (A: first 80%, B: to 95%, C: rest) and "
                      "XYZ by the coefficient of variation of weekly units, with the cycle "
                      "service level target per class (A 98%, B 95%, C 90% by default; a "
                      "product's own `service_level` wins). Warehouse table `abc_classes`.")
def abc_classes(context: dg.AssetExecutionContext, config: ClassConfig, daily_sales: pd.DataFrame,
                product_supply: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.inventory import policy

    frame = policy.abc_classes(daily_sales, product_supply, _settings(config))
    return serve(context, warehouse, frame, "abc_classes",
                 **{f"class_{k}": int(v) for k, v in frame["abc_class"].value_counts().items()})


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          ins={"daily_sales": PANEL_IN,
               "forecast_backtest": reads(BACKTEST_COLUMNS)},
          description="Per shop x product: expected demand over the lead time plus one review "
                      "period from `sales_forecast`, its uncertainty from the champion's backtest "
                      "errors at those horizons (not raw sales variance) with the lead-time "
                      "variability added: sqrt(sigma_P^2 + d^2 sigma_L^2). Pairs the forecast "
                      "does not cover use a moving average and its own rolling errors "
                      "(`demand_source`, `sigma_source`). Warehouse table `demand_over_lead_time`.")
def demand_over_lead_time(context: dg.AssetExecutionContext, config: DemandConfig,
                          sales_forecast: pd.DataFrame, forecast_series_aliases: pd.DataFrame,
                          forecast_backtest: pd.DataFrame,
                          forecast_leaderboard: pd.DataFrame, daily_sales: pd.DataFrame,
                          product_supply: pd.DataFrame,
                          warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.forecasting.pipeline import expand_aliases
    from retail_pipeline.inventory import policy

    # a shop x product series that repeats another level (one shop) is stored once: restore it
    forecast = expand_aliases(sales_forecast, forecast_series_aliases)
    frame = policy.demand_over_lead_time(forecast, forecast_backtest, forecast_leaderboard,
                                         daily_sales, product_supply, _settings(config))
    return serve(context, warehouse, frame, "demand_over_lead_time",
                 **{f"sigma_from_{k.replace(':', '_')}": int(v)
                    for k, v in frame["sigma_source"].value_counts().items()})


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Safety stock and reorder point per shop x product with a stock position: "
                      "class, class service target and the service the series is given (pooled "
                      "allocation: the class meets its target on average at the least safety "
                      "stock), mean daily demand, demand sigma over the lead time, "
                      "safety stock, reorder point, EOQ (pack size and minimum applied), "
                      "order-up-to level, on hand, on order, inventory position, days of cover, "
                      "stock-out probability before the next arrival, `reorder_now` (position "
                      "at or below the reorder point), recommended quantity and order value. "
                      "Warehouse table `safety_stock_and_reorder_report`.")
def safety_stock_and_reorder_report(
        context: dg.AssetExecutionContext, config: ReorderConfig, demand_over_lead_time: pd.DataFrame,
        abc_classes: pd.DataFrame, product_supply: pd.DataFrame, stock_positions: pd.DataFrame,
        warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.inventory import policy

    frame = policy.reorder_report(demand_over_lead_time, abc_classes, product_supply,
                                  stock_positions, _settings(config))
    return serve(context, warehouse, frame, "safety_stock_and_reorder_report",
                 reorder_now=int(frame["reorder_now"].sum()) if len(frame) else 0,
                 order_value_now=float(frame["order_value"].sum()) if len(frame) else 0.0)


@dg.asset_check(asset=safety_stock_and_reorder_report, blocking=True,
                description="reorder_now is true exactly when the inventory position is at or "
                            "below the reorder point, and no quantity is negative.")
def reorder_now_matches_position(safety_stock_and_reorder_report: pd.DataFrame) -> dg.AssetCheckResult:
    r = safety_stock_and_reorder_report
    wrong = r[(r["reorder_now"] != (r["inventory_position"] <= r["reorder_point"]))
              | (r["recommended_qty"] < 0) | (r["safety_stock"] < 0)]
    return check_result(wrong, ERROR)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "purchase_plan": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Orders to place now (`kind=now`, the report's recommendations) and over "
                        "the forecast horizon (`kind=planned`: the policy run forward on the "
                        "forecast): order date, expected arrival, shop, product, category, "
                        "quantity, unit cost, cost. Warehouse table `purchase_plan`."),
        "purchase_budget": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Cost of the purchase plan per week (starting Monday), shop and "
                        "category. Warehouse table `purchase_budget`."),
    },
)
def purchase_plan_and_budget(context: dg.AssetExecutionContext,
                             safety_stock_and_reorder_report: pd.DataFrame,
                             product_supply: pd.DataFrame, sales_forecast: pd.DataFrame,
                             warehouse: WarehouseResource):
    from retail_pipeline.inventory import policy

    horizon = int(sales_forecast["date"].nunique()) if len(sales_forecast) else 0
    plan, _ = policy.project_stock(safety_stock_and_reorder_report, product_supply,
                                   sales_forecast, horizon, projection=False)
    yield serve(context, warehouse, plan, "purchase_plan", output_name="purchase_plan",
                horizon_days=horizon, total_cost=float(plan["cost"].sum()) if len(plan) else 0.0)
    budget = policy.purchase_budget(plan)
    yield serve(context, warehouse, budget, "purchase_budget", output_name="purchase_budget")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="One row per organisation: total products, forecast units and revenue over "
                      "the horizon, products to reorder now, order value, stock value and the "
                      "expected stock-outs the orders avoid. The organisation name comes from "
                      "config (default: the data folder's name). Warehouse table "
                      "`dashboard_metrics`.")
def dashboard_metrics(context: dg.AssetExecutionContext, config: DashboardConfig,
                      raw_products: pd.DataFrame, sales_forecast: pd.DataFrame,
                      safety_stock_and_reorder_report: pd.DataFrame,
                      product_supply: pd.DataFrame, data_dir: DataDirResource,
                      warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.inventory import policy

    organisation = config.organisation or data_dir.layout.root.name
    frame = policy.dashboard_metrics(raw_products, sales_forecast, safety_stock_and_reorder_report,
                                     product_supply, organisation)
    return serve(context, warehouse, frame, "dashboard_metrics", organisation=organisation)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins={"daily_sales": PANEL_IN},
          description="The policy replayed over the newest `simulation_weeks` weeks of sales "
                      "(weekly reviews, a moving-average forecast and its own rolling errors as "
                      "of each review, random lead times, actual demand): achieved cycle service "
                      "level and fill rate per class against the target, average stock and "
                      "stock-outs, next to the textbook shortcut (z x std of daily sales x "
                      "sqrt(L)) as is and scaled to the same service. At most "
                      "`simulation_max_pairs` shop x product pairs are replayed (a seeded sample "
                      "when more qualify: metadata `replayed_pairs` of `eligible_pairs`). "
                      "Warehouse table `policy_simulation`.")
def policy_simulation(context: dg.AssetExecutionContext, config: SimulationConfig,
                      daily_sales: pd.DataFrame, product_supply: pd.DataFrame,
                      abc_classes: pd.DataFrame,
                      warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.inventory.simulation import policy_simulation as replay_policy

    frame = replay_policy(daily_sales, product_supply, abc_classes, _settings(config))
    ours = frame[frame["policy"] == "forecast_error"]
    replayed, eligible = frame.attrs.get("replayed_pairs", 0), frame.attrs.get("eligible_pairs", 0)
    return serve(context, warehouse, frame, "policy_simulation",
                 replayed_pairs=replayed, eligible_pairs=eligible,
                 replayed_share=replayed / eligible if eligible else 1.0,
                 **{f"service_{r.abc_class}": float(r.cycle_service_level)
                    for r in ours.itertuples()})


CHARTS = "retail_pipeline.inventory.charts"

below_reorder_point_chart = chart_asset(
    "below_reorder_point_chart", group=GROUP, ins=["safety_stock_and_reorder_report"],
    draw=f"{CHARTS}:below_reorder_point", file_name="below_reorder_point.png",
    description="Shop x product pairs at or below their reorder point: days of cover against "
                "lead time, coloured by ABC class, sized by order value")
projected_stock_chart = chart_asset(
    "projected_stock_chart", group=GROUP,
    ins=["safety_stock_and_reorder_report", "product_supply", "sales_forecast"],
    draw=f"{CHARTS}:projected_stock", file_name="projected_stock.png",
    description="Projected stock on hand over the forecast horizon for the top items by order "
                "value, with the forecast, the reorder point and the planned arrivals")
purchase_budget_chart = chart_asset(
    "purchase_budget_chart", group=GROUP, ins=["purchase_budget"],
    draw=f"{CHARTS}:budget_by_week", file_name="purchase_budget.png",
    description="Purchase cost by week, stacked by category")
service_level_chart = chart_asset(
    "service_level_chart", group=GROUP, ins=["policy_simulation"],
    draw=f"{CHARTS}:service_by_class", file_name="service_level.png",
    description="Achieved cycle service level per class in the policy replay, against the "
                "target and the textbook shortcut")
