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


@dataclass(frozen=True)
class Problem:
    """One broken rule at one place of one file."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        value = "" if self.value is None else f": value {self.value!r}"
        return f"{', '.join(where)}{value}: {self.rule}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
        }


class ContractError(ValueError):
    """Raised when a table breaks the contract; carries the first problems and the total."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = len(problems) if total is None else total
        shown = "\n".join(f"  - {p}" for p in problems)
        more = f"\n  ... and {self.total - len(problems)} more" if self.total > len(problems) else ""
        super().__init__(f"{self.total} problem(s):\n{shown}{more}")


MAX_REPORTED = 20
FIRST_DATA_ROW = 2  # header is row 1


class _Collector:
    def __init__(self, file: str, limit: int):
        self.file, self.limit = file, limit
        self.problems: list[Problem] = []
        self.total = 0

    def add_rows(self, mask: np.ndarray, rows: np.ndarray, column: str, values: pd.Series, rule: str):
        idx = np.flatnonzero(mask)
        self.total += len(idx)
        for i in idx[: max(0, self.limit - len(self.problems))]:
            value = values.iloc[i]
            shown = None if value is None or pd.isna(value) else str(value)
            self.problems.append(Problem(self.file, int(rows[i]), column, shown, rule))

    def add(self, problem: Problem):
        self.total += 1
        if len(self.problems) < self.limit:
            self.problems.append(problem)


def _blank(values: pd.Series) -> np.ndarray:
    if values.dtype.kind in "Mmiufb":  # typed already (a re-check of a stored table)
        return values.isna().to_numpy()
    as_text = values.astype("str")
    return (values.isna() | (as_text.str.strip() == "")).to_numpy()


EARLIEST_DATE, LATEST_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2199-12-31 23:59:59")
_UTC_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _parse_dates(text: pd.Series, date_format: str | None) -> pd.Series:
    """Parse dates; a trailing UTC offset is dropped so the shop's local wall time is kept
    (a sale at 23:30+01 belongs to that calendar day, whatever UTC says)."""
    if date_format:
        return pd.to_datetime(text, format=date_format, errors="coerce")
    has_time = text.str.contains(r"\d[T ]\d", regex=True, na=False)
    text = text.where(~has_time, text.str.replace(_UTC_OFFSET, "", regex=True))
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if parsed.isna().any():  # mixed but valid forms, e.g. "2024-01-05" and "2024-01-05 10:30"
        retry = pd.to_datetime(text[parsed.isna()], format="mixed", errors="coerce", dayfirst=False)
        parsed = parsed.fillna(retry)
    return parsed


def validate(
    frame: pd.DataFrame,
    entity: Entity | str,
    file: str = "<table>",
    *,
    date_format: str | None = None,
    rows: np.ndarray | None = None,
    limit: int = MAX_REPORTED,
) -> pd.DataFrame:
    """Check ``frame`` against the entity's contract and return it with canonical dtypes.

    Raises :class:`ContractError` listing the first ``limit`` problems (and how many there are
    in all) when any rule is broken: a missing column, an empty required value, a value that
    is not a number or date, a value out of range, or a key repeated inside the table.
    Extra columns are kept as text; nothing is evaluated.
    ``rows`` gives each frame row's number in the source file (default: header is row 1).
    """
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    found = _Collector(file, limit)
    missing = [c for c in entity.column_names if c not in frame.columns]
    if missing:
        for name in missing:
            found.add(Problem(file, 1, name, None, f"required column '{name}' is missing from the header"))
        raise ContractError(found.problems, found.total)
    if len(frame) == 0:
        raise ContractError([Problem(file, None, None, None, "the file has a header but no data rows")])
    rows = np.arange(FIRST_DATA_ROW, FIRST_DATA_ROW + len(frame)) if rows is None else rows
    out: dict[str, pd.Series] = {}
    for col in entity.columns:
        raw = frame[col.name]
        blank = _blank(raw)
        if not col.nullable:
            found.add_rows(blank, rows, col.name, raw, f"{col.name} must not be empty")
        if col.kind == STRING:
            text = raw.astype("str").str.strip()
            out[col.name] = text.where(~blank, None).astype("str")
            continue
        if col.kind == DATE:
            if raw.dtype.kind == "M":  # typed already: nothing to parse
                parsed = raw.astype("datetime64[ns]")
            else:
                parsed = _parse_dates(raw.astype("str").str.strip(), date_format)
            bad = parsed.isna().to_numpy() & ~blank
            found.add_rows(bad, rows, col.name, raw, f"{col.name} is not a date"
                           + (f" in the format {date_format}" if date_format else ""))
            outside = ((parsed < EARLIEST_DATE) | (parsed > LATEST_DATE)).to_numpy()
            found.add_rows(outside, rows, col.name, raw,
                           f"{col.name} must be between {EARLIEST_DATE.date()} and {LATEST_DATE.date()}")
            out[col.name] = parsed.where(~outside).astype("datetime64[ns]")
            continue
        numbers = pd.to_numeric(raw, errors="coerce") if raw.dtype.kind not in "iuf" else raw.astype("float64")
        numbers = numbers.astype("float64")
        bad = numbers.isna().to_numpy() & ~blank
        found.add_rows(bad, rows, col.name, raw, f"{col.name} is not a number")
        values = numbers.to_numpy()
        if col.kind == INTEGER:
            frac = ~np.isnan(values) & (np.floor(values) != values)
            found.add_rows(frac, rows, col.name, raw, f"{col.name} must be a whole number")
        if col.min is not None:
            low = values <= col.min if col.min_exclusive else values < col.min
            word = "greater than" if col.min_exclusive else "at least"
            found.add_rows(low & ~np.isnan(values), rows, col.name, raw,
                           f"{col.name} must be {word} {col.min:g}")
        if col.max is not None:
            found.add_rows(values > col.max, rows, col.name, raw,
                           f"{col.name} must be at most {col.max:g}")
        if col.kind == INTEGER:
            safe = np.where(np.isnan(values) | (np.floor(values) != values), np.nan, values)
            out[col.name] = pd.array(safe, dtype="Float64").astype("Int64")
        else:
            out[col.name] = numbers
    key_frame = pd.DataFrame({k: out[k] for k in entity.key})
    dup = key_frame.duplicated(keep="first").to_numpy()
    if dup.any():
        first_row = {}
        keys = list(map(tuple, key_frame.astype("str").to_numpy()))
        for i, key in enumerate(keys):
            first_row.setdefault(key, rows[i])
        key_name = ", ".join(entity.key)
        for i in np.flatnonzero(dup):
            found.add(Problem(file, int(rows[i]), key_name, " / ".join(keys[i]),
                              f"duplicate key: already used on row {first_row[keys[i]]}"))
    if found.total:
        raise ContractError(found.problems, found.total)
    result = pd.DataFrame(out, index=frame.index)
    for extra in frame.columns:
        if extra not in result.columns:
            result[extra] = frame[extra].astype("str").where(frame[extra].notna(), None).astype("str")
    return result.reset_index(drop=True)


def empty_frame(entity: Entity | str) -> pd.DataFrame:
    """A zero-row table with the entity's canonical columns and dtypes."""
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in entity.columns})
