"""Sales: every transaction joined to its dimensions, and the daily sales panel."""


import dagster as dg
import pandas as pd

from retail_pipeline.defs.helpers import TABLE_KINDS, serve, table_metadata
from retail_pipeline.defs.resources import WarehouseResource
from retail_pipeline.sales.features import build_daily_sales, build_sales_features

GROUP = "sales"


@dg.asset(
    group_name=GROUP,
    kinds={"pandas"},
    description="Every transaction joined (left) to its customer, product and shop, with "
                "price_difference, price_ratio, total_amount, month, day_of_week (Monday=0) and "
                "is_weekend. Unknown references are kept and counted; the join never multiplies rows.",
)
def sales_features(raw_transactions: pd.DataFrame, raw_customers: pd.DataFrame,
                   raw_products: pd.DataFrame, raw_shops: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    features, report = build_sales_features(raw_transactions, raw_customers, raw_products, raw_shops)
    return dg.Output(features, metadata=table_metadata(features, **report.as_dict()))


@dg.asset(
    group_name=GROUP,
    kinds=TABLE_KINDS,
    description="One row per date x shop x product: units, revenue and number of sales lines, from "
                "transactions plus uploaded daily totals (an uploaded total wins for its day). "
                "The panel that forecasting and inventory use. Warehouse table `daily_sales`.",
)
def daily_sales(context: dg.AssetExecutionContext, raw_transactions: pd.DataFrame,
                raw_daily_totals: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    panel = build_daily_sales(raw_transactions, raw_daily_totals)
    sources = panel["source"].value_counts().to_dict()
    return serve(context, warehouse, panel, "daily_sales",
                 first_date=str(panel["date"].min().date()) if len(panel) else "-",
                 last_date=str(panel["date"].max().date()) if len(panel) else "-",
                 **{f"rows_from_{k}": int(v) for k, v in sources.items()})


@dg.asset_check(asset=sales_features, blocking=True, additional_ins={"raw_transactions": dg.AssetIn()},
                description="The joins kept exactly one row per transaction.")
def one_row_per_transaction(sales_features: pd.DataFrame, raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=len(sales_features) == len(raw_transactions)
        and sales_features["transaction_id"].is_unique,
        metadata={"features": len(sales_features), "transactions": len(raw_transactions)},
    )


@dg.asset_check(asset=daily_sales, blocking=True,
                description="One row per date, shop and product, and no negative units.")
def daily_sales_is_a_panel(daily_sales: pd.DataFrame) -> dg.AssetCheckResult:
    duplicated = int(daily_sales.duplicated(["date", "shop_id", "product_id"]).sum())
    negative = int((daily_sales["quantity"] < 0).sum())
    return dg.AssetCheckResult(passed=duplicated == 0 and negative == 0,
                               metadata={"duplicated_keys": duplicated, "negative_quantities": negative})
