"""KPI tables and analytics charts, each table also served from the warehouse."""

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.analytics import kpis
from retail_pipeline.defs.helpers import TABLE_KINDS, chart_asset, serve
from retail_pipeline.defs.resources import WarehouseResource

GROUP = "analytics"


class TopConfig(dg.Config):
    """How many entries a ranking keeps."""

    top_n: int = Field(default=10, description="Entries in the ranking (largest first).")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Headline KPIs (metric, value, description): total revenue, average "
                      "transaction value, units, active customers, total products and shops, "
                      "average discount. Warehouse table `kpi_summary`.")
def kpi_summary(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                raw_products: pd.DataFrame, raw_shops: pd.DataFrame,
                warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.kpi_summary(sales_features, raw_products, raw_shops),
                 "kpi_summary")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Customers ranked by total spending. Warehouse table `top_customers`.")
def top_customers(context: dg.AssetExecutionContext, config: TopConfig,
                  sales_features: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.top_customers(sales_features, config.top_n),
                 "top_customers")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Products ranked by units sold, with revenue. Warehouse table "
                      "`best_selling_products`.")
def best_selling_products(context: dg.AssetExecutionContext, config: TopConfig,
                          sales_features: pd.DataFrame,
                          warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.best_selling_products(sales_features, config.top_n),
                 "best_selling_products")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Revenue, units, sales lines, mean price ratio and revenue share per "
                      "category. Warehouse table `revenue_by_category`.")
def revenue_by_category(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                        warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.revenue_by_category(sales_features),
                 "revenue_by_category")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Revenue, units and sales lines per calendar month; `partial` marks a "
                      "month the data covers only in part (`days_covered` of `days_in_month`). "
                      "Warehouse table `sales_by_month`.")
def sales_by_month(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                   warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.sales_by_month(sales_features), "sales_by_month")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Revenue per weekday (Monday=0), in total and per calendar day the "
                      "business was open: every day from the first to the last sale counts, "
                      "closed days as 0 (`calendar_days`; `days_with_sales` for comparison). "
                      "Warehouse table `sales_by_weekday`.")
def sales_by_weekday(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                     warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.sales_by_weekday(sales_features), "sales_by_weekday")


category_performance_chart = chart_asset(
    "category_performance_chart", group=GROUP, ins=["revenue_by_category"],
    draw="retail_pipeline.analytics.charts:category_performance_chart",
    description="Bar charts of revenue and units per category, largest revenue first")

temporal_patterns_chart = chart_asset(
    "temporal_patterns_chart", group=GROUP, ins=["sales_by_month", "sales_by_weekday"],
    draw="retail_pipeline.analytics.charts:temporal_patterns_chart",
    description="Monthly revenue over time with a partial month marked, and average revenue "
                "per calendar day the shops were open, by weekday")
