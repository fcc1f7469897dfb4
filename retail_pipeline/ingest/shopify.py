"""Shopify admin "Export orders" CSVs as contract tables.

The export has one row per line item; order-level fields (financial status, payment,
customer, addresses, totals) are written on an order's first row only and are blank on
its other rows. They are filled down within the order (``Name``, the order number, e.g.
``#1001``; a value never crosses into another order), then each row becomes one
transaction:

* ``transaction_id`` = ``<Name>-<n>``, n = the line's position within its order in file
  order: stable across re-exports, so an order exported again (e.g. after a refund)
  replaces its earlier lines;
* ``product_id`` = ``Lineitem sku``, or ``Lineitem name`` when the sku is empty (many
  shops leave skus empty); ``quantity`` = ``Lineitem quantity``;
* ``actual_price`` = ``Lineitem price`` minus ``Lineitem discount`` (the line's discount
  amount) spread over its units; an order-level ``Discount Amount`` (discount codes,
  shipping) is not spread over the lines;
* ``transaction_date`` = ``Created at``; its UTC offset (``2025-05-11 09:55:16 -0400``) is
  dropped so the shop's local wall time is kept, as the contract does for any date;
* ``customer_id`` = ``Email`` in lower case, empty for an order without email (a guest);
* ``payment_method`` = ``Payment Method`` (empty when not given);
* ``shop_id`` = ``Location`` (the point-of-sale location) when given, else ``web``;
* text columns kept: ``order_name``, ``product_name``, ``sku``, ``order_status`` (the
  financial status), ``refunded_amount``, ``currency``.

What each order is, from ``Financial Status`` and ``Cancelled at``:

* ``voided`` or ``expired`` (the payment was never taken), or cancelled (``Cancelled at``
  set) while ``pending``, ``authorized`` or without status: the order never became a sale;
  its lines are ``void`` (kept, counted in no total);
* ``refunded``: the sale happened and came back. Its lines stay sales and each gets a
  second line ``<Name>-<n>-refund`` with the negative quantity at the same price, dated at
  ``Cancelled at`` when the order was cancelled (typed ``cancellation``: the whole order was
  taken back) and otherwise at ``Created at`` (typed ``return``; the export gives no refund
  date), so gross sales keep the sale and net sales do not;
* ``partially_refunded``: the lines stay sales in full. ``Refunded Amount`` is money for the
  order as a whole and does not say which units came back, and a return line needs a
  non-zero number of units: rather than inventing units, the amount is kept on the order's
  lines as ``refunded_amount`` for the reader to see;
* ``pending`` (manual payments such as cash on delivery or bank transfer are pending until
  marked paid), ``authorized``, ``partially_paid``, ``paid``: sales. A ``paid`` order
  cancelled without a refund keeps its sale (the money was kept).

Products (name = ``Lineitem name``, standard price = the most common ``Lineitem price`` of
the product's sale lines) and customers (name = ``Billing Name``, else the email; city and
country from ``Billing City`` / ``Billing Country`` of the customer's latest order) come
from the same rows (:mod:`dimensions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.contract import MAX_REPORTED, ContractError, Problem
from retail_pipeline.contract.entities import CANCELLATION, RETURN, SALE, VOID
from retail_pipeline.ingest import transforms
from retail_pipeline.ingest.dimensions import customers_from_lines, products_from_lines
from retail_pipeline.ingest.formats import EntityFrame, normalise

SHOP_ID = "web"
ORDER_FIELDS = ("email", "financial status", "paid at", "created at", "cancelled at", "refunded amount",
                "payment method", "billing name", "billing city", "billing country", "location", "currency")
NEVER_PAID = {"voided", "expired"}
CANCELLED_UNPAID = {"", "pending", "authorized", "voided", "expired"}
REFUND_SUFFIX = "refund"
_OFFSET = r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?) ?(?:Z|[+-]\d{2}:?\d{2})$"


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return frame[column].fillna("").astype("str").str.strip()


def local_time(text: pd.Series) -> pd.Series:
    """``2025-05-11 09:55:16 -0400`` -> ``2025-05-11 09:55:16`` (the shop's wall time).

    Other values are left as they are for the contract to read or refuse.
    """
    return text.str.replace(_OFFSET, r"\1", regex=True).astype("str")


def _number_text(values: np.ndarray, fallback: pd.Series) -> pd.Series:
    """Numbers as text (rounded to 6 decimals); the original text where not a number."""
    shown = pd.Series(np.round(values, 6), index=fallback.index).astype("str")
    return shown.where(~np.isnan(values), fallback).astype("str")


def shopify_frames(frame: pd.DataFrame, rows: np.ndarray, file: str) -> list[EntityFrame]:
    """Transactions, products and customers of a Shopify orders export."""
    f = frame.rename(columns={c: normalise(c) for c in frame.columns})
    f = f.assign(name=_text(f, "name"))
    nameless = np.flatnonzero(f["name"].eq("").to_numpy())
    if len(nameless):
        raise ContractError([Problem(file, int(rows[i]), "Name", "", "a Shopify line item needs its order "
                                     "number (Name)") for i in nameless[:MAX_REPORTED]], len(nameless))
    f = transforms.fill_down(f, [c for c in ORDER_FIELDS if c in f.columns], "name")
    index = f.index
    status = _text(f, "financial status").str.lower()
    cancelled = _text(f, "cancelled at").ne("")
    void = (status.isin(NEVER_PAID) | (cancelled & status.isin(CANCELLED_UNPAID))).to_numpy()
    refunded = (status.eq("refunded").to_numpy()) & ~void

    quantity_text = _text(f, "lineitem quantity")
    quantity = pd.to_numeric(quantity_text, errors="coerce").to_numpy(dtype="float64")
    list_text = _text(f, "lineitem price")
    list_price = pd.to_numeric(list_text, errors="coerce").to_numpy(dtype="float64")
    discount = pd.to_numeric(_text(f, "lineitem discount"), errors="coerce").fillna(0).to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        paid = np.where(quantity != 0, list_price - discount / quantity, np.nan)
    price_text = _number_text(paid, list_text)

    sku, item_name = _text(f, "lineitem sku"), _text(f, "lineitem name")
    location = _text(f, "location")
    created = local_time(_text(f, "created at"))
    email = _text(f, "email").str.lower()
    lines = pd.DataFrame({
        "transaction_id": transforms.position_key(f, "name"),
        "customer_id": email,
        "product_id": sku.where(sku.ne(""), item_name),
        "shop_id": location.where(location.ne(""), SHOP_ID),
        "quantity": quantity_text,
        "actual_price": price_text,
        "transaction_date": created,
        "payment_method": _text(f, "payment method"),
        "line_type": pd.Series(np.where(void, VOID, SALE), index=index, dtype="str"),
        "order_name": f["name"],
        "product_name": item_name,
        "sku": sku,
        "order_status": status,
        "refunded_amount": _text(f, "refunded amount"),
        "currency": _text(f, "currency"),
    }, index=index).astype("str")

    back = lines[refunded].copy()
    if len(back):
        taken_back = cancelled.to_numpy()[refunded]
        back["transaction_id"] = back["transaction_id"] + transforms.KEY_SEPARATOR + REFUND_SUFFIX
        back["quantity"] = _number_text(-quantity[refunded], "-" + back["quantity"]).str.replace(
            r"\.0$", "", regex=True)
        cancelled_at = local_time(_text(f, "cancelled at"))[refunded]
        back["transaction_date"] = cancelled_at.where(taken_back, back["transaction_date"])
        back["line_type"] = np.where(taken_back, CANCELLATION, RETURN)
    all_lines = pd.concat([lines, back], ignore_index=True).astype("str")
    all_rows = np.concatenate([rows, rows[refunded]]).astype(np.int64)
    out = [EntityFrame("transactions", all_lines, all_rows)]

    sold = ~void
    priced = pd.DataFrame({"product_id": lines["product_id"], "quantity": quantity_text,
                           "actual_price": list_text, "product_name": item_name})
    products = products_from_lines(priced[sold], rows[sold], name="product_name")
    if products is not None:
        out.append(products)
    billing = _text(f, "billing name")
    people = pd.DataFrame({"customer_id": email, "customer_name": billing.where(billing.ne(""), email),
                           "city": _text(f, "billing city"), "country": _text(f, "billing country")})
    customers = customers_from_lines(people, rows, name="customer_name", city="city", country="country")
    if customers is not None:
        out.append(customers)
    return out
