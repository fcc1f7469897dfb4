"""KPI tables and analytics charts, each table also served from the warehouse."""

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.analytics import kpis
from retail_pipeline.defs.helpers import TABLE_KINDS, chart_asset, serve
from retail_pipeline.defs.io_manager import reads
from retail_pipeline.defs.resources import WarehouseResource

GROUP = "analytics"


def _features_in(table: str) -> dict[str, dg.AssetIn]:
    """Load only the columns of ``sales_features`` (of its ~35) that ``table`` reads."""
    return {"sales_features": reads(kpis.COLUMNS[table])}


class TopConfig(dg.Config):
    """How many entries a ranking keeps."""

    top_n: int = Field(default=10, description="Entries in the ranking (largest first).")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins=_features_in("kpi_summary"),
          description="Headline KPIs (metric, value, description): gross, returned and net revenue "
                      "and units (`total_revenue` and `units_sold` are net), return rate by units and "
                      "by revenue, sale / return / cancellation / void / price-0 line counts, average "
                      "sale line value, active customers, total products and shops, average discount. "
                      "Warehouse table `kpi_summary`.")
def kpi_summary(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                raw_products: pd.DataFrame, raw_shops: pd.DataFrame,
                warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.kpi_summary(sales_features, raw_products, raw_shops),
                 "kpi_summary")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins=_features_in("top_customers"),
          description="Customers ranked by total spending net of their returns (`total_spent`; "
                      "`gross_spent`, `returned_spent`, sale and return lines beside). Warehouse table "
                      "`top_customers`.")
def top_customers(context: dg.AssetExecutionContext, config: TopConfig,
                  sales_features: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.top_customers(sales_features, config.top_n),
                 "top_customers")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins=_features_in("best_selling_products"),
          description="Products ranked by net units sold (sold minus returned), with gross and "
                      "returned units, return rate and net revenue. Warehouse table "
                      "`best_selling_products`.")
def best_selling_products(context: dg.AssetExecutionContext, config: TopConfig,
                          sales_features: pd.DataFrame,
                          warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.best_selling_products(sales_features, config.top_n),
                 "best_selling_products")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins=_features_in("revenue_by_category"),
          description="Net revenue and units (gross and returned beside), sale and return lines, "
                      "return rate, mean price ratio and revenue share per category (`uncategorised` "
                      "for products without one). Warehouse table `revenue_by_category`.")
def revenue_by_category(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                        warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.revenue_by_category(sales_features),
                 "revenue_by_category")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins=_features_in("sales_by_month"),
          description="Net revenue and units (gross and returned beside) and sale lines per calendar "
                      "month; `complete` is False (and `partial` True) for a month the data covers "
                      "only in part (`days_covered` of `days_in_month`), e.g. a current last month. "
                      "Warehouse table `sales_by_month`.")
def sales_by_month(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                   warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.sales_by_month(sales_features), "sales_by_month")


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS, ins=_features_in("sales_by_weekday"),
          description="Net revenue per weekday (Monday=0), in total and per calendar day of the "
                      "trading period: every day from the first to the last sale counts, closed "
                      "days as 0 (`calendar_days`; `days_with_sales` for comparison). "
                      "Warehouse table `sales_by_weekday`.")
def sales_by_weekday(context: dg.AssetExecutionContext, sales_features: pd.DataFrame,
                     warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return serve(context, warehouse, kpis.sales_by_weekday(sales_features), "sales_by_weekday")


category_performance_chart = chart_asset(
    "category_performance_chart", group=GROUP, ins=["revenue_by_category"],
    draw="retail_pipeline.analytics.charts:category_performance_chart",
    description="Bar charts of net revenue and of net and returned units per category, largest "
                "revenue first")

temporal_patterns_chart = chart_asset(
    "temporal_patterns_chart", group=GROUP, ins=["sales_by_month", "sales_by_weekday"],
    draw="retail_pipeline.analytics.charts:temporal_patterns_chart",
    description="Monthly net (and gross) revenue over complete months, a partial month drawn "
                "apart as a hollow red dot, and average net revenue per calendar day, by weekday")
