"""KPI tables and analytics charts, each also served from the warehouse.

The chart module (seaborn, matplotlib: seconds to import) is imported inside the chart
assets, so that runs which draw nothing (ingestion) start faster.
"""


import dagster as dg
import pandas as pd

from retail_pipeline.defs.metadata import chart_metadata, table_metadata
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.domain import kpis

GROUP = "analytics"
TABLE_KINDS = {"pandas", "sql"}


class TopConfig(dg.Config):
    """How many entries a ranking keeps."""

    top_n: int = 10


def _served(frame: pd.DataFrame, name: str, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    warehouse.write_table(name, frame)
    return dg.Output(frame, metadata=table_metadata(frame, warehouse_table=name))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Headline KPIs (metric, value, description): total revenue, average "
                      "transaction value, units, active customers, total products and shops, "
                      "average discount. Warehouse table `kpi_summary`.")
def kpi_summary(sales_features: pd.DataFrame, raw_products: pd.DataFrame, raw_shops: pd.DataFrame,
                warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return _served(kpis.kpi_summary(sales_features, raw_products, raw_shops), "kpi_summary", warehouse)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Customers ranked by total spending. Warehouse table `top_customers`.")
def top_customers(config: TopConfig, sales_features: pd.DataFrame,
                  warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return _served(kpis.top_customers(sales_features, config.top_n), "top_customers", warehouse)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Products ranked by units sold, with revenue. Warehouse table `best_selling_products`.")
def best_selling_products(config: TopConfig, sales_features: pd.DataFrame,
                          warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return _served(kpis.best_selling_products(sales_features, config.top_n), "best_selling_products", warehouse)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Revenue, units, sales lines, mean price ratio and revenue share per category. "
                      "Warehouse table `revenue_by_category`.")
def revenue_by_category(sales_features: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return _served(kpis.revenue_by_category(sales_features), "revenue_by_category", warehouse)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Revenue, units and sales lines per calendar month. Warehouse table `sales_by_month`.")
def sales_by_month(sales_features: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return _served(kpis.sales_by_month(sales_features), "sales_by_month", warehouse)


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Revenue per weekday (Monday=0), in total and per calendar day. "
                      "Warehouse table `sales_by_weekday`.")
def sales_by_weekday(sales_features: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    return _served(kpis.sales_by_weekday(sales_features), "sales_by_weekday", warehouse)


@dg.asset(group_name=GROUP, kinds={"seaborn", "png"},
          description="Bar charts of revenue and units per category (data/charts/category_performance.png).")
def category_performance_chart(revenue_by_category: pd.DataFrame, data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.domain import charts

    path = charts.category_performance_chart(revenue_by_category,
                                             data_dir.layout.charts / "category_performance.png")
    return dg.MaterializeResult(metadata=chart_metadata(path))


@dg.asset(group_name=GROUP, kinds={"seaborn", "png"},
          description="Monthly revenue over time and revenue per weekday "
                      "(data/charts/temporal_patterns.png).")
def temporal_patterns_chart(sales_by_month: pd.DataFrame, sales_by_weekday: pd.DataFrame,
                            data_dir: DataDirResource) -> dg.MaterializeResult:
    from retail_pipeline.domain import charts

    path = charts.temporal_patterns_chart(sales_by_month, sales_by_weekday,
                                          data_dir.layout.charts / "temporal_patterns.png")
    return dg.MaterializeResult(metadata=chart_metadata(path))
