"""Sales: every transaction joined to its dimensions, and the daily sales panel."""


import dagster as dg
import pandas as pd

from retail_pipeline.defs.helpers import TABLE_KINDS, serve, table_metadata
from retail_pipeline.defs.io_manager import input_columns, reads
from retail_pipeline.defs.resources import WarehouseResource
from retail_pipeline.sales.features import (
    DAILY_SALES_INPUT_COLUMNS,
    build_daily_sales,
    build_sales_features,
)

GROUP = "sales"


@dg.asset(
    group_name=GROUP,
    kinds={"pandas"},
    description="Every transaction line (sales, returns, cancellations and void lines alike) joined "
                "(left) to its customer, product and shop. Per line: `line_type` resolved (empty: "
                "sale when quantity > 0, return when < 0), `is_return` (return or cancellation), "
                "`counted` (False for void lines and lines at price 0, which count in no total), "
                "`gross_quantity`, `returned_quantity` (positive), `net_quantity` = gross - returned, "
                "the same for revenue (`gross_amount`, `returned_amount`, `total_amount` = net), and "
                "price_difference, price_ratio, month, day_of_week (Monday=0), is_weekend. Unknown "
                "references are kept and counted; the join never multiplies rows.",
)
def sales_features(raw_transactions: pd.DataFrame, raw_customers: pd.DataFrame,
                   raw_products: pd.DataFrame, raw_shops: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    features, report = build_sales_features(raw_transactions, raw_customers, raw_products, raw_shops)
    return dg.Output(features, metadata=table_metadata(features, **report.as_dict()))


@dg.asset(
    group_name=GROUP,
    kinds=TABLE_KINDS,
    ins={"raw_transactions": reads(DAILY_SALES_INPUT_COLUMNS)},
    description="One row per date x shop x product: NET units (`quantity`) and revenue (`revenue`), "
                "i.e. sold minus returned or cancelled that day (a day with only returns is negative), "
                "with the parts `gross_quantity`, `returned_quantity`, `gross_revenue`, "
                "`returned_revenue` and the number of sale and return lines; void lines and lines at "
                "price 0 are left out. From transactions plus uploaded daily totals (gross units, "
                "nothing returned; an uploaded total wins for its day). The panel that forecasting "
                "and inventory use. Warehouse table `daily_sales`.",
)
def daily_sales(context: dg.AssetExecutionContext, raw_transactions: pd.DataFrame,
                raw_daily_totals: pd.DataFrame, warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    panel = build_daily_sales(raw_transactions, raw_daily_totals)
    sources = panel["source"].value_counts().to_dict()
    gross, returned = float(panel["gross_quantity"].sum()), float(panel["returned_quantity"].sum())
    return serve(context, warehouse, panel, "daily_sales",
                 gross_units=gross, returned_units=returned, net_units=gross - returned,
                 first_date=str(panel["date"].min().date()) if len(panel) else "-",
                 last_date=str(panel["date"].max().date()) if len(panel) else "-",
                 **{f"rows_from_{k}": int(v) for k, v in sources.items()})


@dg.asset_check(asset=sales_features, blocking=True,
                additional_ins={"raw_transactions": reads(["transaction_id"])},
                op_tags=input_columns(sales_features=["transaction_id"]),  # not 5 GB at 10M lines to count rows
                description="The joins kept exactly one row per transaction.")
def one_row_per_transaction(sales_features: pd.DataFrame, raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=len(sales_features) == len(raw_transactions)
        and sales_features["transaction_id"].is_unique,
        metadata={"features": len(sales_features), "transactions": len(raw_transactions)},
    )


@dg.asset_check(asset=daily_sales, blocking=True,
                op_tags=input_columns(daily_sales=["date", "shop_id", "product_id", "quantity",
                                                   "gross_quantity", "returned_quantity"]),
                description="One row per date, shop and product; gross and returned units are never "
                            "negative and net units are gross minus returned (net alone may be negative "
                            "on a day with more returns than sales).")
def daily_sales_is_a_panel(daily_sales: pd.DataFrame) -> dg.AssetCheckResult:
    duplicated = int(daily_sales.duplicated(["date", "shop_id", "product_id"]).sum())
    negative = int(((daily_sales["gross_quantity"] < 0) | (daily_sales["returned_quantity"] < 0)).sum())
    unbalanced = int(((daily_sales["gross_quantity"] - daily_sales["returned_quantity"]
                       - daily_sales["quantity"]).abs() > 1e-9).sum())
    return dg.AssetCheckResult(
        passed=duplicated == 0 and negative == 0 and unbalanced == 0,
        metadata={"duplicated_keys": duplicated, "negative_gross_or_returned": negative,
                  "net_not_gross_minus_returned": unbalanced,
                  "negative_net_rows": int((daily_sales["quantity"] < 0).sum())})
