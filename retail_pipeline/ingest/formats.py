"""Which known export a header belongs to, and how its columns become contract columns.

Detection looks at the header only (cheap, and the same for CSV and Excel):

* canonical: the header holds every column of one contract entity (names compared without
  case or surrounding spaces); extra columns are kept as text;
* ``daily_sales``: ``date, store, item, sales`` (the sales-dashboard upload, e.g. the Kaggle
  store-item-demand file) becomes ``daily_totals``;
* ``woocommerce``: a WebToffee WooCommerce order export (``order_id``, ``order_date``,
  ``status`` and ``line_item_N`` columns) becomes transactions and customers
  (see :mod:`retail_pipeline.ingest.woocommerce`).

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
_LINE_ITEM = re.compile(r"^line_item_\d+$")


def normalise(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


@dataclass
class Recognised:
    """A header's format, its main entity, and the rename onto contract names."""

    format: str  # "canonical", "daily_sales", "woocommerce" or "mapping"
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
    complete = [e for e in ENTITIES.values() if all(c in names for c in e.required_names)]
    if complete:
        entity = max(complete, key=lambda e: len(e.required_names))
        return Recognised("canonical", entity.name, _rename_to_contract(header, entity.column_names))
    return None


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
    return "; ".join(parts)


def canonical_frames(found: Recognised, frame: pd.DataFrame, rows: np.ndarray) -> list[EntityFrame]:
    """Canonical files and daily sales files only need their columns renamed."""
    renamed = frame.rename(columns=found.rename) if found.rename else frame
    return [EntityFrame(found.entity, renamed, rows)]
