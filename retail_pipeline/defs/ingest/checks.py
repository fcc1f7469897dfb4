"""Data-quality checks on the consolidated tables.

Broken keys and impossible values are errors (and block downstream assets, so no
forecast is computed from a corrupt table); sales that point at an unknown customer,
product or shop are warnings, because dimension files often arrive after the sales; so are
lines that are legal but suspicious (exact duplicates, units at a price of 0, outliers in
units), counted and listed so nobody reads totals that hold them unawares.

Each check loads only the columns it reads (``input_columns``): ``raw_transactions`` has
10M lines at the scale target, and a check that loaded the whole table paid seconds and
GBs for one or two columns. A failed check's sample shows those columns.
"""


import dagster as dg
import pandas as pd

from retail_pipeline.contract import ENTITIES, quality
from retail_pipeline.defs.helpers import ERROR, WARN
from retail_pipeline.defs.helpers import check_result as _result
from retail_pipeline.defs.io_manager import input_columns, reads

LINE = "transaction_id"  # every transactions check shows the lines it flags by their id


def _reads(*columns: str) -> dict[str, str]:
    """Op tags: the check loads only ``columns`` of ``raw_transactions`` (and the line id)."""
    return input_columns(raw_transactions=[LINE, *columns])


def unique_key_check(entity: str) -> dg.AssetChecksDefinition:
    key = list(ENTITIES[entity].key)

    @dg.asset_check(asset=f"raw_{entity}", name="unique_key", blocking=True,
                    description=f"No two rows share the key ({', '.join(key)}).",
                    op_tags=input_columns(**{f"raw_{entity}": key}))
    def _check(frame: pd.DataFrame) -> dg.AssetCheckResult:
        return _result(quality.duplicate_keys(frame, key), ERROR)

    return _check


unique_keys = [unique_key_check(entity) for entity in ENTITIES]


@dg.asset_check(asset="raw_transactions", blocking=True, op_tags=_reads("quantity"),
                description="No line has a quantity of 0 (negative quantities are units that came back).")
def no_zero_quantities(raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(raw_transactions[raw_transactions["quantity"].astype("float64") == 0], ERROR)


@dg.asset_check(asset="raw_transactions",
                description="No line repeats an earlier line in every column but its id (an export that "
                            "holds a line twice counts it twice). Warns with the count of extra copies.")
def exact_duplicate_lines(raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    copies = quality.exact_duplicate_lines(raw_transactions, ENTITIES["transactions"].key)
    return _result(copies, WARN, duplicate_lines=len(copies),
                   duplicate_units=int(copies["quantity"].astype("float64").sum()))


@dg.asset_check(asset="raw_transactions",
                op_tags=_reads("actual_price", "quantity"),
                description="No line has units at a price of 0 (e.g. a stock adjustment exported as a sale: "
                            "units counted as sold without revenue). Warns with the count and the lines.")
def zero_price_lines(raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    lines = quality.zero_price_lines(raw_transactions)
    return _result(lines, WARN, zero_price_lines=len(lines),
                   zero_price_units=int(lines["quantity"].astype("float64").sum()))


@dg.asset_check(asset="raw_transactions",
                description=f"No line holds more than {quality.OUTLIER_FACTOR} times the median units per line "
                            f"of its product (and at least {quality.OUTLIER_FLOOR} units). Warns with the count "
                            "and the lines.", op_tags=_reads("product_id", "quantity"))
def unit_outliers(raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    lines = quality.unit_outliers(raw_transactions)
    return _result(lines, WARN, outlier_lines=len(lines),
                   outlier_units=int(lines["quantity"].astype("float64").sum()))


@dg.asset_check(asset="raw_transactions", blocking=True, op_tags=_reads("actual_price"),
                description="No sale has a negative price.")
def non_negative_prices(raw_transactions: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.below(raw_transactions, "actual_price", 0), ERROR)


@dg.asset_check(asset="raw_products", blocking=True,
                description="Every standard price is above zero (price ratios divide by it).")
def positive_standard_prices(raw_products: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.below(raw_products, "standard_price", 0, inclusive=False), ERROR)


@dg.asset_check(
    asset="raw_transactions",
    additional_ins={f"raw_{entity}": reads([key])
                    for entity, key in (("customers", "customer_id"), ("products", "product_id"),
                                        ("shops", "shop_id"))},
    op_tags=_reads("customer_id", "product_id", "shop_id"),
    description="Share of sales whose customer, product and shop are known (walk-ins without a "
                "customer id count as covered). Warns when any reference is unknown.",
)
def referential_coverage(raw_transactions: pd.DataFrame, raw_customers: pd.DataFrame,
                         raw_products: pd.DataFrame, raw_shops: pd.DataFrame) -> dg.AssetCheckResult:
    dims = {"customer_id": raw_customers, "product_id": raw_products, "shop_id": raw_shops}
    unknown = {col: quality.unknown_references(raw_transactions, col, dim[col]) for col, dim in dims.items()}
    offending = pd.concat(unknown.values()).drop_duplicates("transaction_id")
    return _result(offending, WARN, **{
        f"{col}_coverage": dg.MetadataValue.float(quality.coverage(raw_transactions, col, dims[col][col]))
        for col in dims
    }, **{f"unknown_{col}": len(rows) for col, rows in unknown.items()})
