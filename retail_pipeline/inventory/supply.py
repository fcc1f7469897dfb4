"""Product supply attributes and stock positions.

Supply attributes are optional extra columns of the products upload, which the contract
keeps as text. Each is parsed here; an empty or absent value takes the documented default
of ``InventorySettings`` (``unit_cost`` defaults to ``unit_cost_share`` x
``standard_price``), and a value that is not a number or out of range is rejected with
a :class:`~retail_pipeline.contract.ContractError` naming the product, row and column.

Stock levels reference shops and products; the contract checks types and ranges, and
:func:`check_stock_references` adds the check that every id is known, reported the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.contract import FIRST_DATA_ROW, MAX_REPORTED, ContractError, Problem
from retail_pipeline.inventory.settings import InventorySettings

# column -> (settings default attribute or None, lowest allowed, lowest is exclusive, highest)
SUPPLY_COLUMNS: dict[str, tuple[str | None, float, bool, float]] = {
    "unit_cost": (None, 0.0, True, 1e9),
    "lead_time_days": ("lead_time_days", 0.0, True, 365.0),
    "lead_time_std_days": ("lead_time_std_days", 0.0, False, 365.0),
    "order_cost": ("order_cost", 0.0, False, 1e9),
    "holding_cost_rate": ("holding_cost_rate", 0.0, True, 10.0),
    "min_order_qty": ("min_order_qty", 0.0, False, 1e9),
    "pack_size": ("pack_size", 0.0, True, 1e9),
    "service_level": (None, 0.5, False, 0.9999),
}
SUPPLY_OUTPUT = ["product_id", "category", "standard_price", *SUPPLY_COLUMNS]


def supply_attributes(products: pd.DataFrame, settings: InventorySettings,
                      file: str = "products") -> pd.DataFrame:
    """One row per product: the supply columns as numbers, defaults filled in.

    ``service_level`` stays empty where the upload gives none (the product's class target
    applies). Raises ``ContractError`` for every value that is not a number or out of range.
    """
    problems: list[Problem] = []
    total = 0
    out = pd.DataFrame({"product_id": products["product_id"].astype("str").to_numpy(),
                        "category": products["category"].astype("str").to_numpy(),
                        "standard_price": products["standard_price"].astype("float64").to_numpy()})
    rows = np.arange(FIRST_DATA_ROW, FIRST_DATA_ROW + len(products))
    for column, (default_name, low, low_exclusive, high) in SUPPLY_COLUMNS.items():
        if column in products.columns:
            raw = products[column]
            text = raw.astype("str").str.strip().where(raw.notna(), "")
            values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy("float64")
            blank = (text == "").to_numpy()
        else:
            text = pd.Series([""] * len(products))
            values = np.full(len(products), np.nan)
            blank = np.ones(len(products), dtype=bool)
        not_number = np.isnan(values) & ~blank
        with np.errstate(invalid="ignore"):
            too_low = (values <= low) if low_exclusive else (values < low)
            outside = (too_low | (values > high)) & ~np.isnan(values)
        word = "greater than" if low_exclusive else "at least"
        for mask, rule in ((not_number, "is not a number"),
                           (outside, f"must be {word} {low:g} and at most {high:g}")):
            for i in np.flatnonzero(mask):
                total += 1
                if len(problems) < MAX_REPORTED:
                    problems.append(Problem(file, int(rows[i]), column, str(text.iloc[i]),
                                            f"{column} of product {out['product_id'].iloc[i]} {rule}"))
        if default_name is not None:
            values = np.where(np.isnan(values), getattr(settings, default_name), values)
        elif column == "unit_cost":
            values = np.where(np.isnan(values), out["standard_price"] * settings.unit_cost_share,
                              values)
        out[column] = values
    if total:
        raise ContractError(problems, total)
    return out[SUPPLY_OUTPUT]


def check_stock_references(stock: pd.DataFrame, products: pd.DataFrame, shops: pd.DataFrame,
                           file: str = "stock_levels") -> None:
    """Every ``shop_id`` and ``product_id`` of the stock levels must be a known shop/product."""
    problems: list[Problem] = []
    total = 0
    rows = np.arange(FIRST_DATA_ROW, FIRST_DATA_ROW + len(stock))
    for column, known, entity in (("shop_id", shops["shop_id"], "shops"),
                                  ("product_id", products["product_id"], "products")):
        unknown = ~stock[column].astype("str").isin(set(known.astype("str"))).to_numpy()
        for i in np.flatnonzero(unknown):
            total += 1
            if len(problems) < MAX_REPORTED:
                value = str(stock[column].iloc[i])
                problems.append(Problem(file, int(rows[i]), column, value,
                                        f"{column} {value!r} is not in the {entity} table"))
    if total:
        raise ContractError(problems, total)


def current_positions(stock: pd.DataFrame) -> pd.DataFrame:
    """The newest snapshot per shop x product: on hand, on order (empty = 0), expected arrival."""
    columns = ["shop_id", "product_id", "stock_date", "on_hand", "on_order", "expected_arrival"]
    if stock.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            columns, ["str", "str", "datetime64[ns]", "float64", "float64", "datetime64[ns]"],
            strict=True)})
    newest = (stock.sort_values("date", kind="stable")
              .drop_duplicates(["shop_id", "product_id"], keep="last"))
    on_order = (newest["on_order"].astype("Float64").fillna(0).astype("float64")
                if "on_order" in newest else 0.0)
    arrival = (newest["expected_arrival"] if "expected_arrival" in newest
               else pd.Series(pd.NaT, index=newest.index))
    return pd.DataFrame({
        "shop_id": newest["shop_id"].astype("str"), "product_id": newest["product_id"].astype("str"),
        "stock_date": pd.to_datetime(newest["date"]).astype("datetime64[ns]"),
        "on_hand": newest["on_hand"].astype("Float64").astype("float64"),
        "on_order": on_order,
        "expected_arrival": pd.to_datetime(arrival).astype("datetime64[ns]"),
    })[columns].reset_index(drop=True)
