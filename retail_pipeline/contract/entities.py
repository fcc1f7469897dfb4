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

import numpy as np
import pandas as pd

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
    optional: bool = False
    """The column may be left out of the header entirely (then every value is empty)."""
    nonzero: bool = False
    """0 is refused (a line of zero units says nothing happened)."""
    choices: tuple[str, ...] = ()
    """The only values allowed (compared without case or surrounding spaces; stored lower-case)."""

    @property
    def dtype(self) -> str:
        return _DTYPES[self.kind]

    def rule(self) -> str:
        """Human-readable rule, used in asset descriptions and in error messages."""
        return f"{self.kind}, {self.constraints()}"

    def constraints(self) -> str:
        """The rule without the type: range, and whether the value or column may be absent."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        if self.nonzero:
            parts.append("not 0")
        if self.min is not None:
            parts.append(f"{'>' if self.min_exclusive else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.optional:
            parts.append("optional column")
        else:
            parts.append("may be empty" if self.nullable else "required")
        return ", ".join(parts)


@dataclass(frozen=True)
class RowRule:
    """A rule between two columns of one row: ``column`` must be at most ``other``.

    Checked only where both values are present (optional columns may be empty).
    """

    column: str
    other: str

    def text(self) -> str:
        return f"{self.column} must be at most {self.other} when both are given"

    def broken(self, values: dict) -> np.ndarray:
        """Rows (of the typed columns ``values``) that break the rule."""
        low = pd.Series(values[self.column]).astype("float64").to_numpy()
        high = pd.Series(values[self.other]).astype("float64").to_numpy()
        with np.errstate(invalid="ignore"):
            return low > high  # NaN on either side compares False: checked only when both given


@dataclass(frozen=True)
class SignRule:
    """The sign of a number follows a type column: ``negative`` types need a value below 0,
    ``positive`` ones a value above 0; an empty type (or any other) takes either sign."""

    column: str
    by: str
    negative: tuple[str, ...]
    positive: tuple[str, ...]

    def text(self) -> str:
        return (f"{self.column} must be negative when {self.by} is {' or '.join(self.negative)} "
                f"and positive when it is {' or '.join(self.positive)}")

    def broken(self, values: dict) -> np.ndarray:
        number = pd.Series(values[self.column]).astype("float64").to_numpy()
        kind = pd.Series(values[self.by])
        if not kind.notna().any():  # no type given anywhere: either sign is fine
            return np.zeros(len(number), dtype=bool)
        kind = kind.astype("str").str.lower()  # stored lower-case already; a re-check may not be
        negative = kind.isin(self.negative).to_numpy()
        positive = kind.isin(self.positive).to_numpy()
        with np.errstate(invalid="ignore"):
            return (negative & (number >= 0)) | (positive & (number <= 0))


@dataclass(frozen=True)
class Entity:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""
    references: dict[str, str] = field(default_factory=dict)  # column -> entity
    row_rules: tuple[RowRule | SignRule, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        """The columns every upload's header must have (optional ones may be left out)."""
        return [c.name for c in self.columns if not c.optional]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


SALE, RETURN, CANCELLATION, VOID = "sale", "return", "cancellation", "void"
LINE_TYPES = (SALE, RETURN, CANCELLATION, VOID)
"""What a transaction line is: ``return`` and ``cancellation`` lines take units back (negative
quantity; a cancellation is a whole invoice or order taken back, e.g. a ``C`` invoice);
``void`` lines record an order that never became a sale and count in no total."""

TRANSACTIONS = Entity(
    "transactions",
    (
        Column("transaction_id", STRING, doc="unique id of the sale line"),
        Column("customer_id", STRING, nullable=True, doc="who bought (empty for walk-ins)"),
        Column("product_id", STRING, doc="what was sold"),
        Column("shop_id", STRING, doc="where it was sold"),
        Column("quantity", INTEGER, min=-100_000, max=100_000, nonzero=True,
               doc="units sold; negative for units that came back (a return or cancellation)"),
        Column("actual_price", FLOAT, min=0, max=1_000_000, doc="unit price paid"),
        Column("transaction_date", DATE, doc="date or date-time of the sale"),
        Column("payment_method", STRING, nullable=True, doc="cash, card, mobile, ...; empty when the export does not say"),
        Column("line_type", STRING, nullable=True, optional=True, choices=LINE_TYPES,
               doc="empty: sale when quantity > 0, return when < 0; `void`: an order that never "
                   "became a sale (cancelled or voided before payment), kept but counted nowhere"),
    ),
    key=("transaction_id",),
    doc=("One row per product line of a sale, a return or a cancellation (negative quantity: "
         "units that came back); returns are kept, never counted as sales."),
    references={"customer_id": "customers", "product_id": "products", "shop_id": "shops"},
    row_rules=(SignRule("quantity", "line_type", negative=("return", "cancellation"), positive=("sale",)),),
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
        Column("category", STRING, nullable=True, doc="empty when the export has none (shown as 'uncategorised')"),
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

STOCK_LEVELS = Entity(
    "stock_levels",
    (
        Column("date", DATE, doc="day the stock was counted"),
        Column("shop_id", STRING),
        Column("product_id", STRING),
        Column("on_hand", INTEGER, min=0, max=100_000_000, doc="units on the shelf and in store"),
        Column("on_order", INTEGER, nullable=True, optional=True, min=0, max=100_000_000,
               doc="units ordered and not yet received"),
        Column("expected_arrival", DATE, nullable=True, optional=True,
               doc="when the open order is expected"),
    ),
    key=("date", "shop_id", "product_id"),
    doc="Stock snapshots; the newest row per shop x product is its current position.",
    references={"product_id": "products", "shop_id": "shops"},
)
MARKETING_SPEND = Entity(
    "marketing_spend",
    (
        Column("date", DATE, doc="day (or first day of the week) of the spend"),
        Column("channel", STRING, doc="search, social, display, email, tv, ..."),
        Column("spend", FLOAT, min=0, max=1e10, doc="money spent"),
        Column("impressions", INTEGER, nullable=True, optional=True, min=0),
        Column("reach", INTEGER, nullable=True, optional=True, min=0, doc="distinct people reached"),
        Column("clicks", INTEGER, nullable=True, optional=True, min=0),
        Column("conversions", FLOAT, nullable=True, optional=True, min=0),
        Column("revenue", FLOAT, nullable=True, optional=True, min=0,
               doc="revenue the channel reports as attributed to it"),
        Column("campaign", STRING, nullable=True, optional=True),
    ),
    key=("date", "channel", "campaign"),
    doc="Marketing spend and delivery per day (or week) and channel.",
    row_rules=(RowRule("clicks", "impressions"), RowRule("conversions", "clicks")),
)

MARKETING_OUTCOMES = Entity(
    "marketing_outcomes",
    (
        Column("date", DATE, doc="day (or first day of the week) of the outcome"),
        Column("revenue", FLOAT, min=0, max=1e12,
               doc="the outcome the media-mix model explains (e.g. conversions x revenue per conversion)"),
    ),
    key=("date",),
    doc=("An outcomes series for the media-mix model instead of the shop's own net sales revenue; "
         "every other numeric column is a control (competitor sales, events, promotions)."),
)

URBAN_RURAL = ("rural", "suburban", "urban")
AGE_CLASSES = ("child", "teenager", "youth", "adult", "senior")
INCOME_BRACKETS = ("low", "medium", "high")
EDUCATION_LEVELS = ("low", "mid", "high")
CUSTOMER_PROFILES = Entity(
    "customer_profiles",
    (
        Column("id", STRING, nullable=True, optional=True,
               doc="the profile's id; when empty: company_name, else '<file>:row<n>'"),
        Column("company_name", STRING, nullable=True, optional=True),
        Column("male_female_ratio", FLOAT, min=0, max=1_000, doc="men per woman among the shoppers"),
        Column("city", STRING),
        Column("urban_rural_classification", STRING, choices=URBAN_RURAL, doc="ordered as listed"),
        Column("customer_age_class", STRING, choices=AGE_CLASSES, doc="ordered as listed"),
        Column("customer_income_bracket", STRING, choices=INCOME_BRACKETS, doc="ordered as listed"),
        Column("customer_education_level", STRING, choices=EDUCATION_LEVELS, doc="ordered as listed"),
    ),
    key=("id",),
    doc="Profiles of business customers (retailers a manufacturer supplies), for their own segmentation.",
)
REVENUE_HISTORY = Entity(
    "revenue_history",
    (
        Column("date", DATE),
        Column("amount", FLOAT, min=-1e12, max=1e12, doc="revenue of the day (negative after refunds)"),
        Column("company_name", STRING, nullable=True, optional=True,
               doc="whose revenue; empty for a single company"),
    ),
    key=("company_name", "date"),
    doc="Revenue per day and company, forecast 30 days ahead (`company_revenue_forecast`).",
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (TRANSACTIONS, CUSTOMERS, PRODUCTS, SHOPS, DAILY_TOTALS, STOCK_LEVELS,
                        MARKETING_SPEND, MARKETING_OUTCOMES, CUSTOMER_PROFILES, REVENUE_HISTORY)
}
