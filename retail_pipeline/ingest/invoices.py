"""Invoice-line exports (the layout of UCI "Online Retail" / "Online Retail II") as contract tables.

One row is one line of an invoice; the invoice number repeats on every line of its
invoice. Recognised by the header alone (names compared without case or spaces), in the
current and the older UCI spelling::

    Invoice | InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
    Price | UnitPrice, Customer ID | CustomerID, Country

(``Description``, ``Customer ID`` and ``Country`` may be absent.) Each line becomes one
transaction:

* ``transaction_id`` = ``<invoice>-<n>``, n = the line's position within its invoice in
  file order (:func:`transforms.position_key`): stable when the same invoices are exported
  again, so a re-upload replaces its lines instead of adding them;
* ``product_id`` = ``StockCode``; ``quantity``; ``actual_price`` = ``Price``;
  ``transaction_date`` = ``InvoiceDate``;
* ``customer_id`` = ``Customer ID`` written as a whole number (the published file shows
  ``13085.0``; stored ``13085``); an empty id stays empty: a guest / walk-in line;
* ``shop_id`` = ``online`` for every line (:data:`SHOP_ID`: the export is one web shop and
  names no shop); ``payment_method`` is empty (the export does not say);
* ``Invoice``, ``Description`` and ``Country`` are kept as the text columns ``invoice``,
  ``product_name`` and ``country``.

What each line is (``line_type``), so that nothing but sales to customers is counted as
sales and nothing is silently dropped that the contract can hold:

* an invoice starting with ``C`` is a cancellation: its lines (negative quantity) are
  ``cancellation`` lines; they count as returned units, never as sales;
* a positive line on a ``C`` invoice (the 2009-2010 file has one, a ``Manual`` credit of
  373.57) is a credit note adjustment, not a sale: ``void`` (kept, counted nowhere);
* a negative line on an ordinary invoice is a stock write-off, not a customer return (all
  2,121 such lines of the 2009-2010 file have price 0, no customer and notes such as
  ``damages``, ``lost``, ``short``): ``void`` as well, so returns rates and net units only
  show what customers sent back;
* every other line is a ``sale``, including lines at price 0 (samples, manual fixes,
  postage waived): they stay sales at 0 revenue and are left for the quality checks to flag;
* invoices starting with ``A`` with a negative price are bad-debt adjustments of the
  accounts (``Adjust bad debt``, e.g. -53,594.36), not product lines: the contract cannot
  hold a negative price, so these lines (3 in the 2009-2010 file) are left out of the
  transactions; any other negative price is refused by the contract as usual.

Lines that repeat another line exactly (6,865 in the 2009-2010 file) get distinct position
keys and are all kept: the export cannot tell a scanning mistake from two identical
lines, and the quality checks report them.

Products and customers come from the same lines (:mod:`dimensions`): a product per stock
code sold at a positive price (name = its most common description, standard price = its
most common unit price on sale lines); a customer per id, named by the id (the export has
no names), with ``country`` from the customer's latest line. Everything is vectorised:
the file has half a million lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from retail_pipeline.contract import ContractError, Problem
from retail_pipeline.contract.entities import CANCELLATION, SALE, VOID
from retail_pipeline.ingest import transforms
from retail_pipeline.ingest.dimensions import customers_from_lines, numbers, products_from_lines
from retail_pipeline.ingest.formats import EntityFrame

SHOP_ID = "online"
LINE_TYPE_CODES = (SALE, CANCELLATION, VOID)
TEXT = pd.StringDtype("pyarrow", np.nan)  # pandas' "str", as the reader gives it


def _text(frame: pd.DataFrame, column: str, strip: bool = True) -> pd.Series:
    """A column as text; ``strip=False`` for columns the contract strips itself."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return transforms.strip_text(frame[column]) if strip else frame[column].fillna("").astype("str")


def _constant(value: str, length: int) -> pd.Series:
    return pd.Series(pa.DictionaryArray.from_arrays(np.zeros(length, dtype=np.int8), pa.array([value]))
                     .cast(pa.large_string()), dtype=TEXT)


def _line_types(codes: np.ndarray) -> pd.Series:
    """Line types from codes into :data:`LINE_TYPE_CODES`, built in arrow (no per-row object)."""
    return pd.Series(pa.DictionaryArray.from_arrays(codes.astype(np.int8), pa.array(LINE_TYPE_CODES))
                     .cast(pa.large_string()), dtype=TEXT)


def _without(frame: pd.DataFrame, drop: np.ndarray) -> pd.DataFrame:
    """``frame`` without the rows ``drop`` marks. A few dropped rows leave a few runs of rows,
    joined as slices (arrow columns are sliced and chained, not copied)."""
    cut = np.flatnonzero(drop)
    if len(cut) > 1000:
        return frame[~drop].reset_index(drop=True)
    starts, ends = np.r_[0, cut + 1], np.r_[cut, len(frame)]
    runs = [frame.iloc[a:b] for a, b in zip(starts, ends, strict=True) if b > a]
    return pd.concat(runs, ignore_index=True) if runs else frame.iloc[:0]


def whole_number_ids(ids: pd.Series) -> pd.Series:
    """``13085.0`` -> ``13085`` (ids written as floats); anything else unchanged."""
    stem = ids.str.slice(0, -2)
    floated = (ids.str.endswith(".0") & stem.str.isdigit()).to_numpy()
    return stem.where(floated, ids).astype("str") if floated.any() else ids


def invoice_frames(frame: pd.DataFrame, rows: np.ndarray, file: str, rename: dict[str, str]) -> list[EntityFrame]:
    """Transactions, products and customers of an invoice-line export."""
    f = frame.rename(columns=rename).reset_index(drop=True)
    invoice = _text(f, "invoice")
    price_text = _text(f, "price", strip=False)
    price = numbers(price_text)
    quantity_text = _text(f, "quantity", strip=False)
    quantity = numbers(quantity_text)
    first = invoice.str.slice(0, 1).str.upper().to_numpy()
    adjustment = (first == "A") & (price < 0)
    cancelled = first == "C"
    with np.errstate(invalid="ignore"):
        line_type = np.select([cancelled & (quantity < 0), cancelled & (quantity > 0), quantity < 0],
                              [1, 2, 2], default=0)  # codes into LINE_TYPE_CODES
    lines = pd.DataFrame({
        "transaction_id": transforms.position_key(pd.DataFrame({"i": invoice}), "i"),
        "customer_id": whole_number_ids(_text(f, "customer")),
        "product_id": _text(f, "stock_code", strip=False),
        "shop_id": _constant(SHOP_ID, len(f)),
        "quantity": quantity_text,
        "actual_price": price_text,
        "transaction_date": _text(f, "invoice_date", strip=False),
        "payment_method": _constant("", len(f)),
        "line_type": _line_types(line_type),
        "invoice": invoice,
        **({"product_name": _text(f, "description")} if "description" in f.columns else {}),
        **({"country": _text(f, "country")} if "country" in f.columns else {}),
    })
    if adjustment.any():  # bad-debt adjustments: not product lines (see the module docstring)
        keep = ~adjustment
        lines, rows, line_type = _without(lines, adjustment), rows[keep], line_type[keep]
        quantity, price = quantity[keep], price[keep]
        # a line's position within its invoice is unchanged: adjustments are invoices of their own
    if len(lines) == 0:
        raise ContractError([Problem(file, None, None, None,
                                     "the invoice-line export holds only bad-debt adjustments, no product lines")])
    out = [EntityFrame("transactions", lines, rows)]
    named = "product_name" in lines.columns
    products = products_from_lines(lines, rows, name="product_name" if named else None, where=line_type == 0,
                                   parsed=(quantity, price))
    if products is not None:
        out.append(products)
    people = lines[["customer_id", *(["country"] if "country" in lines.columns else [])]]
    customers = customers_from_lines(people, rows, country="country" if "country" in lines.columns else None)
    if customers is not None:
        out.append(customers)
    return out
