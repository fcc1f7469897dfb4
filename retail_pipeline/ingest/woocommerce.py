"""WooCommerce order exports (WebToffee "Order Import Export" plugin) as contract tables.

One export row is one order; its products are packed into ``line_item_1``,
``line_item_2``, ... cells as ``name:Formal shoe|product_id:13|sku:A12|quantity:1|total:8.00|tax:1.44``.
Each line item becomes one transaction:

* ``transaction_id`` = ``<order_id>-<n>`` (n = the line item's position), stable across
  re-exports so a changed order replaces its older version;
* ``customer_id`` = the order's ``customer_email``, else ``billing_email``, else the
  WooCommerce ``customer_id`` when it is not 0 (0 means a guest), else empty;
* ``product_id`` from the item (its ``sku`` when the product id is missing); ``shop_id`` = "web";
* ``quantity``; ``actual_price`` = item ``total`` / quantity (the line total after
  discounts, before tax); ``transaction_date`` = ``order_date`` (``dd-mm-yyyy HH:MM:SS``);
  ``payment_method`` = the order's payment method.

Every order is kept; its status says what its lines are (``line_type``):

* ``cancelled``, ``failed``, ``pending`` (awaiting payment), ``checkout-draft``/``draft``
  and ``trash``: the order never became a sale; its lines are ``void`` (kept for the
  record, counted in no total);
* ``refunded``: the sale happened and came back. Its lines stay sales and each gets a
  second line ``<order_id>-<n>-refund`` with the negative quantity at the same price, typed
  ``return`` and dated at the refund's ``date`` in ``refund_items`` when it has one (else
  at ``order_date``), so gross sales keep the sale and net sales do not;
* any other status (``completed``, ``processing``, ``on-hold``, ...) is a sale; partial
  refunds of such orders (``refund_items`` amounts) do not say which units came back and
  are not turned into return lines.

``payment_method`` is empty when the order does not give one. The status is kept as the
text column ``order_status``. Customers seen in the export (name and city from the
billing address) become ``customers`` rows keyed like ``customer_id`` above; the latest
order wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.contract import MAX_REPORTED, ContractError, Problem
from retail_pipeline.contract.entities import RETURN, SALE, VOID
from retail_pipeline.ingest.formats import EntityFrame, normalise

DATE_FORMAT = "%d-%m-%Y %H:%M:%S"
SHOP_ID = "web"
NEVER_SOLD = {"cancelled", "failed", "pending", "draft", "checkout-draft", "trash"}
REFUNDED = "refunded"
REFUND_SUFFIX = "refund"


def parse_line_item(cell: str) -> dict[str, str]:
    """``name:A|product_id:13|quantity:1`` -> {"name": "A", "product_id": "13", ...}."""
    item: dict[str, str] = {}
    for part in cell.split("|"):
        key, sep, value = part.partition(":")
        if sep:
            item[key.strip()] = value.strip()
        elif item:  # a '|' inside a value (e.g. a product name): glue it back
            last = next(reversed(item))
            item[last] += "|" + part
    return item


def _negated(quantity: str) -> str:
    text = quantity.strip()
    return text[1:] if text.startswith("-") else f"-{text}"


def _customer_key(order: dict[str, str]) -> str:
    for column in ("customer_email", "billing_email"):
        if order.get(column, "").strip():
            return order[column].strip().lower()
    wc_id = order.get("customer_id", "").strip()
    return wc_id if wc_id not in ("", "0") else ""


def _refund_date(order: dict[str, str]) -> str:
    """The refund's date from ``refund_items`` (``...|date:2019-06-19 12:13:48``) written
    like ``order_date``, else ``order_date``."""
    cell = (order.get("refund_items") or "").strip()
    if cell:
        stamp = pd.to_datetime(parse_line_item(cell).get("date", ""), errors="coerce", format="ISO8601")
        if not pd.isna(stamp):
            return stamp.strftime(DATE_FORMAT)
    return order.get("order_date", "")


def woocommerce_frames(frame: pd.DataFrame, rows: np.ndarray, file: str) -> list[EntityFrame]:
    frame = frame.rename(columns={c: normalise(c) for c in frame.columns})
    item_columns = sorted((c for c in frame.columns if c.startswith("line_item_")),
                          key=lambda c: int(c.rsplit("_", 1)[1]))
    sales: dict[str, list] = {k: [] for k in ("transaction_id", "customer_id", "product_id", "shop_id",
                                              "quantity", "actual_price", "transaction_date",
                                              "payment_method", "line_type", "product_name", "sku",
                                              "order_status")}
    sale_rows: list[int] = []
    customers: dict[str, tuple[int, dict]] = {}
    problems: list[Problem] = []
    total = 0
    for row_number, order in zip(rows, frame.to_dict("records"), strict=True):
        status = order.get("status", "").strip().lower()
        line_type = VOID if status in NEVER_SOLD else SALE
        order_id = order.get("order_id", "").strip()
        customer = _customer_key(order)
        for column in item_columns:
            cell = (order.get(column) or "").strip()
            if not cell:
                continue
            item = parse_line_item(cell)
            product = item.get("product_id", "").strip() or item.get("sku", "").strip()
            quantity_text, total_text = item.get("quantity", ""), item.get("total", "")
            try:
                price = float(total_text) / float(quantity_text)
                price_text = repr(round(price, 6))
            except (ValueError, ZeroDivisionError):
                total += 1
                if len(problems) < MAX_REPORTED:
                    problems.append(Problem(file, int(row_number), column, cell[:80],
                                            "line item needs a numeric quantity (not 0) and total"))
                price_text = ""
            sales["transaction_id"].append(f"{order_id}-{column.rsplit('_', 1)[1]}")
            sales["customer_id"].append(customer)
            sales["product_id"].append(product)
            sales["shop_id"].append(SHOP_ID)
            sales["quantity"].append(quantity_text)
            sales["actual_price"].append(price_text)
            sales["transaction_date"].append(order.get("order_date", ""))
            sales["payment_method"].append(order.get("payment_method", "").strip())
            sales["line_type"].append(line_type)
            sales["product_name"].append(item.get("name", ""))
            sales["sku"].append(item.get("sku", ""))
            sales["order_status"].append(order.get("status", ""))
            sale_rows.append(int(row_number))
            if status == REFUNDED:  # the same line again, units coming back
                for values in sales.values():
                    values.append(values[-1])
                sales["transaction_id"][-1] += f"-{REFUND_SUFFIX}"
                sales["quantity"][-1] = _negated(quantity_text)
                sales["transaction_date"][-1] = _refund_date(order)
                sales["line_type"][-1] = RETURN
                sale_rows.append(int(row_number))
        name = " ".join(p for p in (order.get("billing_first_name", "").strip(),
                                    order.get("billing_last_name", "").strip()) if p)
        if customer and name:
            customers[customer] = (int(row_number), {
                "customer_id": customer, "customer_name": name, "gender": "", "age": "",
                "city": order.get("billing_city", "").strip(), "preferred_categories": "",
                "avg_monthly_spending": "", "visits_per_month": ""})
    if problems:
        raise ContractError(problems, total)
    if not sale_rows:
        raise ContractError([Problem(file, None, None, None,
                                     "the WooCommerce export has no line items")])
    out = [EntityFrame("transactions", pd.DataFrame(sales, dtype="str"),
                       np.asarray(sale_rows, dtype=np.int64), DATE_FORMAT)]
    if customers:
        ordered = sorted(customers.values(), key=lambda pair: pair[0])
        out.append(EntityFrame("customers", pd.DataFrame([c for _, c in ordered], dtype="str"),
                               np.asarray([r for r, _ in ordered], dtype=np.int64)))
    return out
