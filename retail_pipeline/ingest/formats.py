"""Which known export a header belongs to, and how its columns become contract columns.

Detection looks at the header only (cheap, and the same for CSV and Excel):

* canonical: the header holds every column of one contract entity (names compared without
  case or surrounding spaces); extra columns are kept as text;
* ``daily_sales``: ``date, store, item, sales`` (the sales-dashboard upload, e.g. the Kaggle
  store-item-demand file) becomes ``daily_totals``;
* ``woocommerce``: a WebToffee WooCommerce order export (``order_id``, ``order_date``,
  ``status`` and ``line_item_N`` columns) becomes transactions and customers
  (see :mod:`retail_pipeline.ingest.woocommerce`);
* ``shopify``: a Shopify admin "Export orders" CSV (``Name``, ``Financial Status``,
  ``Created at`` and ``Lineitem quantity/name/price``) becomes transactions, products and
  customers (see :mod:`retail_pipeline.ingest.shopify`);
* ``invoice_lines``: the invoice-line layout of Online Retail (``Invoice``/``InvoiceNo``,
  ``StockCode``, ``Quantity``, ``InvoiceDate``, ``Price``/``UnitPrice``, optionally
  ``Description``, ``Customer ID``/``CustomerID``, ``Country``) becomes transactions,
  products and customers (see :mod:`retail_pipeline.ingest.invoices`).

Anything else needs a mapping file (:mod:`retail_pipeline.ingest.mapping`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.contract import ENTITIES

DAILY_SALES_COLUMNS = ("date", "store", "item", "sales")
WOOCOMMERCE_COLUMNS = ("order_id", "order_date", "status")
SHOPIFY_COLUMNS = ("name", "financial status", "created at", "lineitem quantity", "lineitem name", "lineitem price")
_LINE_ITEM = re.compile(r"^line_item_\d+$")
# invoice-line exports: role -> accepted header names (normalised), current and older UCI spelling
INVOICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "invoice": ("invoice", "invoiceno"),
    "stock_code": ("stockcode",),
    "quantity": ("quantity",),
    "invoice_date": ("invoicedate",),
    "price": ("price", "unitprice"),
    "description": ("description",),
    "customer": ("customer id", "customerid"),
    "country": ("country",),
}
INVOICE_REQUIRED = ("invoice", "stock_code", "quantity", "invoice_date", "price")


def normalise(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


@dataclass
class Recognised:
    """A header's format, its main entity, and the rename onto contract names (for
    ``invoice_lines``: onto the roles of :data:`INVOICE_COLUMNS`)."""

    format: str  # "canonical", "daily_sales", "woocommerce", "shopify", "invoice_lines" or "mapping"
    entity: str
    rename: dict[str, str] = field(default_factory=dict)


@dataclass
class EntityFrame:
    """One entity's rows (still text) ready for ``contract.validate``."""

    entity: str
    frame: pd.DataFrame
    rows: np.ndarray
    date_format: str | None = None


def recognise(header: list[str]) -> Recognised | None:
    names = {normalise(h): h for h in header}
    if all(c in names for c in DAILY_SALES_COLUMNS) and not any(c in names for c in ("shop_id", "product_id")):
        return Recognised("daily_sales", "daily_totals", {
            names["date"]: "date", names["store"]: "shop_id",
            names["item"]: "product_id", names["sales"]: "quantity"})
    if all(c in names for c in WOOCOMMERCE_COLUMNS) and any(_LINE_ITEM.match(n) for n in names):
        return Recognised("woocommerce", "transactions")
    if all(c in names for c in SHOPIFY_COLUMNS):
        return Recognised("shopify", "transactions")
    invoice_roles = invoice_line_roles(header)
    if invoice_roles is not None:
        return Recognised("invoice_lines", "transactions", invoice_roles)
    complete = [e for e in ENTITIES.values() if all(c in names for c in e.required_names)]
    if complete:
        entity = max(complete, key=lambda e: len(e.required_names))
        return Recognised("canonical", entity.name, _rename_to_contract(header, entity.column_names))
    return None


def invoice_line_roles(header: list[str]) -> dict[str, str] | None:
    """Header name -> role (see :data:`INVOICE_COLUMNS`) of an invoice-line export, else None."""
    found: dict[str, str] = {}
    for name in header:
        key = normalise(name)
        for role, spellings in INVOICE_COLUMNS.items():
            if key in spellings and role not in found.values():
                found[name] = role
    return found if all(r in found.values() for r in INVOICE_REQUIRED) else None


def nearest_entity(header: list[str]) -> str | None:
    """The entity most of whose columns are present (at least half), for a clearer error."""
    names = {normalise(h) for h in header}
    score = {e.name: len(names & set(e.column_names)) / len(e.columns) for e in ENTITIES.values()}
    best = max(score, key=score.get)
    return best if score[best] >= 0.5 else None


def _rename_to_contract(header: list[str], contract_names: list[str]) -> dict[str, str]:
    wanted = set(contract_names)
    return {h: normalise(h) for h in header if normalise(h) in wanted and h != normalise(h)}


def expected_headers() -> str:
    parts = [f"{e.name} ({', '.join(e.column_names)})" for e in ENTITIES.values()]
    parts.append(f"daily sales ({', '.join(DAILY_SALES_COLUMNS)})")
    parts.append("a WooCommerce order export (order_id, order_date, status, line_item_1, ...)")
    parts.append("a Shopify orders export (" + ", ".join(SHOPIFY_COLUMNS) + ", ...)")
    parts.append("invoice lines (Invoice, StockCode, Description, Quantity, InvoiceDate, Price, "
                 "Customer ID, Country)")
    return "; ".join(parts)


def canonical_frames(found: Recognised, frame: pd.DataFrame, rows: np.ndarray) -> list[EntityFrame]:
    """Canonical files and daily sales files only need their columns renamed."""
    renamed = frame.rename(columns=found.rename) if found.rename else frame
    return [EntityFrame(found.entity, renamed, rows)]
