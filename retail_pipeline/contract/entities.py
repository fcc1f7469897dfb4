"""The data contract: canonical entities, their columns, types and rules.

Every file a retailer uploads is mapped onto one of these entities before anything is
stored, so the rest of the pipeline can rely on the column names and dtypes below.
Validation is vectorised (one pass per rule over whole columns) because uploads can hold
millions of rows, and every problem it reports names the file, row, column, value and
rule so that a person can fix the export.

Row numbers in problems are the line numbers a spreadsheet shows: the header is row 1,
the first data row is row 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STRING, INTEGER, FLOAT, DATE = "string", "integer", "float", "date"
_DTYPES = {STRING: "str", INTEGER: "Int64", FLOAT: "float64", DATE: "datetime64[ns]"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    doc: str = ""

    @property
    def dtype(self) -> str:
        return _DTYPES[self.kind]

    def rule(self) -> str:
        """Human-readable rule, used in the README table and in error messages."""
        parts = [self.kind]
        if self.min is not None:
            parts.append(f"{'>' if self.min_exclusive else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        parts.append("may be empty" if self.nullable else "required")
        return ", ".join(parts)


@dataclass(frozen=True)
class Entity:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""
    references: dict[str, str] = field(default_factory=dict)  # column -> entity

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TRANSACTIONS = Entity(
    "transactions",
    (
        Column("transaction_id", STRING, doc="unique id of the sale line"),
        Column("customer_id", STRING, nullable=True, doc="who bought (empty for walk-ins)"),
        Column("product_id", STRING, doc="what was sold"),
        Column("shop_id", STRING, doc="where it was sold"),
        Column("quantity", INTEGER, min=0, min_exclusive=True, max=100_000, doc="units sold"),
        Column("actual_price", FLOAT, min=0, max=1_000_000, doc="unit price paid"),
        Column("transaction_date", DATE, doc="date or date-time of the sale"),
        Column("payment_method", STRING, doc="cash, card, mobile, ..."),
    ),
    key=("transaction_id",),
    doc="One row per sold product line.",
    references={"customer_id": "customers", "product_id": "products", "shop_id": "shops"},
)
CUSTOMERS = Entity(
    "customers",
    (
        Column("customer_id", STRING),
        Column("customer_name", STRING),
        Column("gender", STRING, nullable=True),
        Column("age", INTEGER, nullable=True, min=0, max=120),
        Column("city", STRING, nullable=True),
        Column("preferred_categories", STRING, nullable=True, doc="categories separated by ';'"),
        Column("avg_monthly_spending", FLOAT, nullable=True, min=0),
        Column("visits_per_month", FLOAT, nullable=True, min=0, max=1000),
    ),
    key=("customer_id",),
    doc="One row per customer.",
)
PRODUCTS = Entity(
    "products",
    (
        Column("product_id", STRING),
        Column("product_name", STRING),
        Column("category", STRING),
        Column("brand", STRING, nullable=True),
        Column("standard_price", FLOAT, min=0, min_exclusive=True, max=1_000_000),
    ),
    key=("product_id",),
    doc="One row per product; standard_price is the list price that discounts are measured against.",
)
SHOPS = Entity(
    "shops",
    (
        Column("shop_id", STRING),
        Column("city", STRING),
        Column("district", STRING, nullable=True),
    ),
    key=("shop_id",),
    doc="One row per shop or web store.",
)
DAILY_TOTALS = Entity(
    "daily_totals",
    (
        Column("date", DATE),
        Column("shop_id", STRING),
        Column("product_id", STRING),
        Column("quantity", INTEGER, min=0, max=10_000_000, doc="units sold that day (0 allowed)"),
    ),
    key=("date", "shop_id", "product_id"),
    doc="Pre-aggregated daily unit sales per shop and product (the `date,store,item,sales` upload).",
    references={"product_id": "products", "shop_id": "shops"},
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (TRANSACTIONS, CUSTOMERS, PRODUCTS, SHOPS, DAILY_TOTALS)
}
