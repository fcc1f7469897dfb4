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

Orders whose status says no sale happened (cancelled, failed, refunded, pending, draft,
trash) are skipped. Customers seen in the export (name and city from the billing address)
become ``customers`` rows keyed like ``customer_id`` above; the latest order wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.contract import MAX_REPORTED, ContractError, Problem
from retail_pipeline.ingest.formats import EntityFrame, normalise

DATE_FORMAT = "%d-%m-%Y %H:%M:%S"
SHOP_ID = "web"
NOT_SOLD = {"cancelled", "failed", "refunded", "pending", "draft", "checkout-draft", "trash"}


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


def _customer_key(order: dict[str, str]) -> str:
    for column in ("customer_email", "billing_email"):
        if order.get(column, "").strip():
            return order[column].strip().lower()
    wc_id = order.get("customer_id", "").strip()
    return wc_id if wc_id not in ("", "0") else ""


def woocommerce_frames(frame: pd.DataFrame, rows: np.ndarray, file: str) -> list[EntityFrame]:
    frame = frame.rename(columns={c: normalise(c) for c in frame.columns})
    item_columns = sorted((c for c in frame.columns if c.startswith("line_item_")),
                          key=lambda c: int(c.rsplit("_", 1)[1]))
    sales: dict[str, list] = {k: [] for k in ("transaction_id", "customer_id", "product_id", "shop_id",
                                              "quantity", "actual_price", "transaction_date",
                                              "payment_method", "product_name", "sku", "order_status")}
    sale_rows: list[int] = []
    customers: dict[str, tuple[int, dict]] = {}
    problems: list[Problem] = []
    total = 0
    for row_number, order in zip(rows, frame.to_dict("records"), strict=True):
        if order.get("status", "").strip().lower() in NOT_SOLD:
            continue
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
            sales["payment_method"].append(order.get("payment_method", "").strip() or "unknown")
            sales["product_name"].append(item.get("name", ""))
            sales["sku"].append(item.get("sku", ""))
            sales["order_status"].append(order.get("status", ""))
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
                                     "the WooCommerce export has no line items of sold orders")])
    out = [EntityFrame("transactions", pd.DataFrame(sales, dtype="str"),
                       np.asarray(sale_rows, dtype=np.int64), DATE_FORMAT)]
    if customers:
        ordered = sorted(customers.values(), key=lambda pair: pair[0])
        out.append(EntityFrame("customers", pd.DataFrame([c for _, c in ordered], dtype="str"),
                               np.asarray([r for r, _ in ordered], dtype=np.int64)))
    return out
