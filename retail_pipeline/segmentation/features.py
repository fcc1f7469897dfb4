"""One row per customer: behaviour from net transactions, plus the customer's demographics.

Input is ``sales_features`` (every sale line joined to its customer, product and shop) and
the customers table. Each line's type comes from ``line_type`` (``sales.features``: given,
else ``sale`` for quantity > 0 and ``return`` for < 0). A ``return`` or ``cancellation``
line is netted out of the spend (``monetary`` is net spend) and counted in ``return_rate``
(returned value / gross value). A ``void`` line (an order that never became a sale) and a
line the sales features do not count (``counted`` False, e.g. price 0) count nowhere: not
as a purchase day, not in any spend or unit.

Definitions (``as_of`` is the day after the last sale in the data unless given):

- ``frequency``: distinct days with a purchase (a positive line); ``recency_days``: days
  from the last purchase day to ``as_of``; ``tenure_days``: days from the first purchase
  day to ``as_of``.
- ``gross_spend``: value of purchase lines; ``returned_spend``: value of return lines;
  ``monetary`` = gross - returned; ``avg_basket`` = monetary / frequency; ``units``: net units.
- ``share_<category>``: the customer's share of gross spend in each of the
  ``top_categories`` best-selling categories, ``share_other`` for the rest.
- ``favourite_shop``, ``favourite_shop_city``: where the customer spent most (ties: lowest id).
- demographics from the customers table: ``gender``, ``age``, ``city``,
  ``preferred_categories``, ``avg_monthly_spending``, ``visits_per_month``, and any
  ``extra_columns``.

Only customers with at least one purchase line get a row: RFM, clusters and lifetime value
are undefined for someone who never bought. Walk-in sales (no customer) are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retail_pipeline.contract import ContractError, Problem
from retail_pipeline.platform.arrays import runs
from retail_pipeline.sales.features import SALE, VOID

DEMOGRAPHICS = ("gender", "age", "city", "preferred_categories", "avg_monthly_spending",
                "visits_per_month")
REQUIRED_SALES_COLUMNS = ("customer_id", "transaction_date", "quantity", "total_amount",
                          "shop_id")
# every column of ``sales_features`` read here (the asset loads only these)
INPUT_COLUMNS = [*REQUIRED_SALES_COLUMNS, "line_type", "counted", "category", "shop_city"]


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_") or "blank"


def default_as_of(sales: pd.DataFrame) -> pd.Timestamp:
    """The day after the last sale: recency is counted up to the end of the data."""
    return pd.Timestamp(sales["transaction_date"].max()).normalize() + pd.Timedelta(days=1)


def _require(frame: pd.DataFrame, columns, file: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError([Problem(file=file, row=None, column=c, value=None,
                                     rule="required column is missing") for c in missing])


def customer_features(sales: pd.DataFrame, customers: pd.DataFrame, *,
                      as_of: pd.Timestamp | None = None, top_categories: int = 5,
                      extra_columns=()) -> pd.DataFrame:
    """One row per customer who bought at least once (see the module docstring).

    The per-line work runs on integer codes (``coded_lines``): grouping ten million lines
    by a text id would turn every id into a Python string. The sums are pandas groupby
    sums over the same lines in the same order as grouping by the ids themselves, so the
    values are the same to the last bit.
    """
    _require(sales, REQUIRED_SALES_COLUMNS, "sales_features")
    _require(customers, ("customer_id", *extra_columns), "customers")
    if as_of is None:
        as_of = default_as_of(sales) if len(sales) else pd.Timestamp("today").normalize()
    lines = coded_lines(sales, end=as_of)
    frame = lines.frame
    bought = frame["bought"].to_numpy()
    purchases = frame[bought]
    customer, day, _ = distinct_pairs(purchases["customer"].to_numpy(),
                                      purchases["day"].to_numpy())  # purchase days, sorted
    starts, ends = runs(customer)
    buyers = customer[starts]
    out = pd.DataFrame({"first_purchase": lines.dates(day[starts]),
                        "last_purchase": lines.dates(day[ends - 1]),
                        "frequency": ends - starts},
                       index=pd.Index(buyers, name="customer"))
    amount = frame["amount"].to_numpy()
    totals = by_codes(pd.DataFrame({"gross": np.where(bought, amount, 0.0),
                                    "returned": np.where(bought, 0.0, -amount),
                                    "units": frame["quantity"].to_numpy()}),
                      frame["customer"].to_numpy(), len(lines.customer_ids)).sum()
    for column in totals.columns:
        out[column] = totals[column].to_numpy()[buyers]
    out["recency_days"] = (as_of - out["last_purchase"]).dt.days.astype("int64")
    out["tenure_days"] = (as_of - out["first_purchase"]).dt.days.astype("int64")
    out["frequency"] = out["frequency"].astype("int64")
    out["gross_spend"] = out.pop("gross")
    out["returned_spend"] = out.pop("returned")
    out["monetary"] = out["gross_spend"] - out["returned_spend"]
    out["avg_basket"] = out["monetary"] / out["frequency"]
    out["return_rate"] = np.where(out["gross_spend"] > 0,
                                  out["returned_spend"] / out["gross_spend"].where(
                                      out["gross_spend"] > 0), 0.0)
    out = out.join(_category_shares(sales, purchases, top_categories))
    out = out.join(_favourite_shop(sales, purchases))
    out.index = lines.customer_ids.take(out.index.to_numpy()).rename("customer_id")
    out = out.reset_index()
    demo = [c for c in (*DEMOGRAPHICS, *extra_columns) if c in customers.columns]
    dims = customers[["customer_id", *dict.fromkeys(demo)]].copy()
    dims["customer_id"] = dims["customer_id"].astype("str")
    out = out.merge(dims, on="customer_id", how="left", validate="one_to_one")
    for column in DEMOGRAPHICS:  # a customer table without a column: keep the schema stable
        if column not in out.columns:
            out[column] = np.nan
    out["age"] = pd.to_numeric(out["age"], errors="coerce").astype("float64")
    for column in ("avg_monthly_spending", "visits_per_month"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    for column in ("gender", "city", "preferred_categories"):
        out[column] = out[column].astype("str").where(out[column].notna(), None)
    out["as_of"] = as_of
    return out.sort_values("customer_id", ignore_index=True)


def sorted_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values`` as text, numbered in the text's sort order, and the texts.

    Code ``i`` stands for ``labels[i]``; a missing value gets -1. Only the distinct values
    become Python strings, so ten million lines with 300,000 customers make 300,000
    strings; since codes follow the texts' order, grouping by code (``sort=True``) gives the
    order grouping by the texts would.
    """
    codes, uniques = pd.factorize(values)
    text_codes, labels = pd.factorize(pd.Index(uniques).astype("str"), sort=True)
    lookup = np.append(text_codes, -1).astype("int64")  # code -1 (missing) stays -1
    return lookup[codes], pd.Index(labels, dtype="str")


@dataclass
class CodedLines:
    """The lines that count for customers, in input order, as numbers.

    ``frame`` has ``row`` (position in the input), ``customer`` (code into
    ``customer_ids``), ``day`` (the day number, days since 1970-01-01; ``dates`` turns it
    back into a date), ``amount`` (``total_amount``), ``quantity`` and ``bought`` (a
    ``sale`` line).
    """

    frame: pd.DataFrame
    customer_ids: pd.Index
    date_dtype: np.dtype

    def restrict(self, sales: pd.DataFrame, start: pd.Timestamp | None = None,
                 end: pd.Timestamp | None = None) -> CodedLines:
        """The lines dated in [start, end); ``sales`` is the frame they were coded from."""
        keep = _in_window(sales["transaction_date"], start, end)[self.frame["row"].to_numpy()]
        return CodedLines(self.frame[keep], self.customer_ids, self.date_dtype)

    def dates(self, days: np.ndarray) -> np.ndarray:
        """Day numbers (days since 1970-01-01) as dates of the input's date type."""
        return np.asarray(days, dtype="int64").astype("datetime64[D]").astype(self.date_dtype)


def coded_lines(sales: pd.DataFrame, end: pd.Timestamp | None = None,
                start: pd.Timestamp | None = None) -> CodedLines:
    """The lines with a customer, dated in [start, end), that count: not ``void`` and, when
    the sales features say, ``counted`` (see the module docstring)."""
    customer, customer_ids = sorted_codes(sales["customer_id"])
    dates = sales["transaction_date"]
    keep = (customer >= 0) & _in_window(dates, start, end)
    sale, void = line_kinds(sales)
    keep &= ~void
    if "counted" in sales.columns:
        keep &= sales["counted"].fillna(False).astype("bool").to_numpy()
    rows = np.flatnonzero(keep)
    frame = pd.DataFrame({
        "row": rows,
        "customer": customer[rows].astype("int32"),
        "day": dates.iloc[rows].dt.normalize().to_numpy().astype("datetime64[D]").astype("int32"),
        "amount": sales["total_amount"].iloc[rows].astype("float64").to_numpy(),
        "quantity": sales["quantity"].iloc[rows].astype("float64").to_numpy(),
        "bought": sale[rows],
    })
    return CodedLines(frame, customer_ids, dates.dtype)


def by_codes(values: pd.Series | pd.DataFrame, codes: np.ndarray, count: int):
    """``values`` grouped by integer ``codes`` (0 .. count - 1), one group per code in code
    order, a code without rows included (select the ones you need).

    pandas groups by a categorical's codes as they are, where grouping by an integer
    column first hashes every value (seconds for ten million lines); the groups and each
    group's sum (in line order) are the same.
    """
    groups = pd.Categorical.from_codes(codes, categories=pd.RangeIndex(count))
    return values.reset_index(drop=True).groupby(groups, observed=False, sort=True)


def distinct_pairs(first: np.ndarray,
                   second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pairs of integer codes (first, second), sorted by first, then second, as
    two arrays, and the index of each row's pair."""
    offset = int(second.min()) if len(second) else 0
    width = int(second.max()) - offset + 1 if len(second) else 1
    pairs, pair_of_row = np.unique(first.astype("int64") * width + (second - offset),
                                   return_inverse=True)
    return pairs // width, pairs % width + offset, pair_of_row


def _in_window(dates: pd.Series, start: pd.Timestamp | None,
               end: pd.Timestamp | None) -> np.ndarray:
    """Which dates fall in [start, end) (an open side when None)."""
    keep = np.ones(len(dates), dtype="bool")
    if end is not None:
        keep &= (dates < end).to_numpy()
    if start is not None:
        keep &= (dates >= start).to_numpy()
    return keep


def pair_sums(first: np.ndarray, second: np.ndarray,
              values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of ``values`` per distinct pair (first, second) of integer codes, sorted by first,
    then second: the pairs and the sums (pandas sums, line by line, as grouping by the
    two columns would)."""
    first_of_pair, second_of_pair, pair = distinct_pairs(first, second)
    sums = by_codes(values, pair, len(first_of_pair)).sum().to_numpy()
    return first_of_pair, second_of_pair, sums


def line_kinds(lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per line: is it a ``sale``, is it ``void``, as ``sales.features.resolve_line_types``
    resolves them (the given ``line_type``, else the sign of the quantity).

    The given texts are cleaned once per distinct value, not once per line.
    """
    by_sign_sale = ~(lines["quantity"].astype("float64").to_numpy() < 0)
    if "line_type" not in lines.columns:
        return by_sign_sale, np.zeros(len(lines), dtype="bool")
    codes, uniques = pd.factorize(lines["line_type"])  # a missing type: code -1
    text = pd.Index(uniques).astype("str").str.strip().str.lower()
    given = np.append(text != "", False)[codes]
    is_sale = np.append(text == SALE, False)[codes]
    is_void = np.append(text == VOID, False)[codes]
    return np.where(given, is_sale, by_sign_sale), is_void


def _category_shares(sales: pd.DataFrame, purchases: pd.DataFrame, top: int) -> pd.DataFrame:
    """Per customer code: share of gross spend in each of the ``top`` best-selling categories
    (ties: category name) and ``share_other``; a missing category counts as ``unknown``.
    ``purchases``: the purchase lines of ``coded_lines``."""
    if "category" not in sales.columns or top <= 0:
        return pd.DataFrame(index=pd.Index([], name="customer"))
    category, names = sorted_codes(sales["category"])
    category = category[purchases["row"].to_numpy()]
    if (category < 0).any():
        if "unknown" not in names:
            names = names.append(pd.Index(["unknown"], dtype="str"))
        category = np.where(category < 0, names.get_loc("unknown"), category)
    spend = purchases["amount"]
    sold = np.flatnonzero(np.bincount(category, minlength=len(names)))
    by_category = pd.Series(by_codes(spend, category, len(names)).sum().to_numpy()[sold],
                            index=names.take(sold))
    ranking = by_category.sort_index().sort_values(ascending=False, kind="stable")
    keep = list(ranking.index[:top])
    column = np.full(len(names), len(keep), dtype="int64")  # "other" unless kept
    for position, name in enumerate(keep):
        column[names == name] = position
    columns = [*keep, "other"]
    customer, position, sums = pair_sums(purchases["customer"].to_numpy(), column[category],
                                         spend)
    starts, _ = runs(customer)
    cells = np.zeros((len(starts), len(columns)))
    cells[np.searchsorted(customer[starts], customer), position] = sums
    table = pd.DataFrame(cells, index=customer[starts], columns=columns)
    total = table.sum(axis=1)
    shares = table.div(total.where(total > 0), axis=0).fillna(0.0)
    shares.columns = [f"share_{slug(c)}" for c in columns]
    shares.index.name = "customer"
    return shares


def _favourite_shop(sales: pd.DataFrame, purchases: pd.DataFrame) -> pd.DataFrame:
    """Per customer code: the shop with the most purchase spend (ties: lowest id), its city.
    ``purchases``: the purchase lines of ``coded_lines``."""
    rows = purchases["row"].to_numpy()
    shop_codes, shop_ids = sorted_codes(sales["shop_id"])
    shop = shop_codes[rows]
    del shop_codes
    customer, amount = purchases["customer"].to_numpy(), purchases["amount"]
    known = shop >= 0
    if not known.all():  # a line without a shop counts for no shop
        rows, shop, customer, amount = rows[known], shop[known], customer[known], amount[known]
    customer, shop_of_pair, spend = pair_sums(customer, shop, amount)
    # pairs come sorted by customer, then shop id: the first pair at the customer's
    # largest spend is the favourite, ties going to the lowest id
    starts, ends = runs(customer)
    top = np.repeat(np.maximum.reduceat(spend, starts), ends - starts) if len(spend) else spend
    at_top = np.flatnonzero(spend == top)
    first = at_top[runs(customer[at_top])[0]]
    best = pd.Index(customer[first], name="customer")
    favourite = shop_ids.take(shop_of_pair[first])
    out = pd.DataFrame({"favourite_shop": favourite}, index=best)
    if "shop_city" in sales.columns:
        seen = pd.Series(shop).drop_duplicates()  # each shop's first purchase line
        city = sales["shop_city"].iloc[rows[seen.index.to_numpy()]].set_axis(
            shop_ids.take(seen.to_numpy()))
        out["favourite_shop_city"] = out["favourite_shop"].map(city).astype("str")
    else:
        out["favourite_shop_city"] = None
    return out
