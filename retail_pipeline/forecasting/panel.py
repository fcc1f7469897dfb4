"""The forecast panel: daily sales series at four levels of aggregation.

A buyer asks four questions: how much will the chain sell, each shop, each product, and
each product in each shop. Each question is one *level* of the panel, and every level is
a set of daily series with the same columns so that one backtest and one set of models
serve all four.

Columns: ``level``, ``series_id``, ``shop_id``, ``product_id``, ``ds``, ``y``.

- ``shop_id`` / ``product_id`` are ``None`` (missing) where a level does not split by that
  key: both are missing at ``total``, ``product_id`` is missing at ``shop`` and so on.
  Missing rather than ``""`` so that a warehouse table gets SQL ``NULL`` there.
- ``series_id`` is a readable, unique key: ``total``, ``shop=S1``, ``product=P7``,
  ``shop=S1|product=P7``.
- Days without a sale row are filled with ``y = 0``: ``daily_sales`` only has rows for
  days that sold something, and a forecaster that never sees the zero days would learn a
  demand that is too high. Each series runs from its own first sale to the last date of
  the whole data set, so a product launched last month is not padded with a year of
  zeros from before it existed.

``max_series_per_level`` caps how many series each level keeps (the largest by total
quantity). Generated samples hold hundreds of shops times hundreds of products; fitting
every model to tens of thousands of tiny series would take far longer than the
30-minute refresh. The default of 100 keeps the default sample's full pipeline near a
minute on two cores; ``None`` keeps every series (the benchmark uses that to include all
500 store-item series). The total level is never capped, and the shop and product levels
are still sums over *all* rows, not only over the kept shop x product series.

Demand (``demand``, issue 10): which units of ``daily_sales`` the panel counts.

- ``net`` (default): ``quantity``, units sold minus units returned or cancelled (void lines
  are in no total). What the shop keeps.
- ``gross``: ``gross_quantity``, units sold before returns: what left the shelf, so what a
  buyer stocks for. A frame without ``gross_quantity`` (one built before returns were
  tracked) is rejected with an error naming the column rather than silently forecasting
  net units under the name gross.

A day on which a series' demand is negative (more units came back than were sold that day,
e.g. a large return or a cancelled order of an earlier purchase) counts as 0: a return says
nothing about how much that day would have sold, and a negative target would pull every
model's mean below what shoppers took. The clip applies to each series of each level after
summing, so each level answers its own question: the total is the shop's net units (one
product's big return still lowers that day's total, as it lowers the shop's net sales), a
product's series is that product's net units. The levels therefore need not add up exactly
(a product clipped at 0 on a day still lowers the total by its return). Clipping per shop x
product x day before summing was tried first: on UCI Online Retail it clipped 5,735
product-days (449,357 units, 8% of net units) and lifted the total by that much, so the
total no longer measured net sales. ``forecast_panel`` leaves a report in
``panel.attrs["demand"]`` (``demand``, ``column``, and per level ``clipped_days`` and
``clipped_units``: how many series-days were negative and by how many units in total) and the
``forecast_panel`` asset shows it as metadata.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

LEVELS: tuple[str, ...] = ("total", "shop", "product", "shop_product")
PANEL_COLUMNS: list[str] = ["level", "series_id", "shop_id", "product_id", "ds", "y"]
DEFAULT_MAX_SERIES_PER_LEVEL = 100
DEMAND_COLUMNS: dict[str, str] = {"net": "quantity", "gross": "gross_quantity"}
DEFAULT_DEMAND = "net"
# the daily_sales columns the panel reads (an asset input loads only these)
INPUT_COLUMNS: tuple[str, ...] = ("date", "shop_id", "product_id", *DEMAND_COLUMNS.values())

_KEYS = {"total": [], "shop": ["shop_id"], "product": ["product_id"],
         "shop_product": ["shop_id", "product_id"]}


def series_id_for(level: str, shop_id: str | None = None, product_id: str | None = None) -> str:
    """The readable key of one series; see the module docstring for the format."""
    if level == "total":
        return "total"
    if level == "shop":
        return f"shop={shop_id}"
    if level == "product":
        return f"product={product_id}"
    if level == "shop_product":
        return f"shop={shop_id}|product={product_id}"
    raise ValueError(f"unknown level {level!r}; known: {', '.join(LEVELS)}")


_ID_PATTERN = r"^(?:shop=(?P<shop>[^|]*))?\|?(?:product=(?P<product>.*))?$"


def split_series_ids(series_ids) -> pd.DataFrame:
    """``shop``, ``product`` parsed back out of series ids (``series_id_for``); missing parts
    (the total, a shop's or a product's own series) are NaN."""
    return pd.Series(series_ids, dtype="str").str.extract(_ID_PATTERN)


def forecast_panel(
    daily_sales: pd.DataFrame,
    *,
    levels: Iterable[str] = LEVELS,
    max_series_per_level: int | None = DEFAULT_MAX_SERIES_PER_LEVEL,
    demand: str = DEFAULT_DEMAND,
) -> pd.DataFrame:
    """Build the zero-filled daily panel (see module docstring) from ``daily_sales``.

    ``daily_sales`` needs ``date``, ``shop_id``, ``product_id`` and the ``demand`` column
    (``quantity`` for net, ``gross_quantity`` for gross); other columns are ignored.
    Returns an empty frame with the panel columns if there are no sales. The clipping
    report is in ``panel.attrs["demand"]`` (see the module docstring).
    """
    levels = list(levels)
    for level in levels:
        if level not in _KEYS:
            raise ValueError(f"unknown level {level!r}; known: {', '.join(LEVELS)}")
    if max_series_per_level is not None and max_series_per_level < 1:
        raise ValueError("max_series_per_level must be at least 1 (or None for no cap)")
    missing = {"date", "shop_id", "product_id"} - set(daily_sales.columns)
    if missing:
        raise KeyError(f"daily_sales lacks column(s): {', '.join(sorted(missing))}")
    sales, column = demand_days(daily_sales, demand)
    report = {"demand": demand, "column": column, "clipped_days": {}, "clipped_units": {}}
    if sales.empty:
        panel = _empty_panel()
    else:
        last_day = sales["ds"].max()
        frames = []
        for level in levels:
            frame = _level_frame(sales, level, last_day, max_series_per_level)
            negative = frame["y"] < 0
            report["clipped_days"][level] = int(negative.sum())
            report["clipped_units"][level] = float(-frame.loc[negative, "y"].sum())
            frame["y"] = frame["y"].clip(lower=0.0)
            frames.append(frame)
        panel = pd.concat(frames, ignore_index=True)[PANEL_COLUMNS]
    panel.attrs["demand"] = report
    return panel


def demand_days(daily_sales: pd.DataFrame, demand: str = DEFAULT_DEMAND
                ) -> tuple[pd.DataFrame, str]:
    """``(ds, shop_id, product_id, y`` per shop x product x day, the column used``).

    ``y`` is the ``demand`` column (see the module docstring) summed per shop, product and
    day; negative values are kept (the panel clips each level's series after summing).
    Raises ``ValueError`` for an unknown ``demand`` and ``KeyError`` when the frame lacks
    its column.
    """
    if demand not in DEMAND_COLUMNS:
        raise ValueError(f"unknown demand {demand!r}; known: {', '.join(DEMAND_COLUMNS)}")
    column = DEMAND_COLUMNS[demand]
    if column not in daily_sales.columns:
        hint = (" (units sold before returns; a daily_sales built before returns were tracked "
                "has only the net `quantity`: rebuild it, or use demand='net')"
                if demand == "gross" else "")
        raise KeyError(f"daily_sales lacks column {column!r} needed for demand={demand!r}{hint}")
    sales = pd.DataFrame({
        "ds": pd.to_datetime(daily_sales["date"]).dt.normalize(),
        "shop_id": daily_sales["shop_id"].astype(str),
        "product_id": daily_sales["product_id"].astype(str),
        "y": pd.to_numeric(daily_sales[column], errors="coerce").fillna(0.0).astype(float),
    })
    if not sales.empty:
        sales = sales.groupby(["ds", "shop_id", "product_id"], sort=False)["y"].sum().reset_index()
    return sales, column


def _level_frame(sales: pd.DataFrame, level: str, last_day: pd.Timestamp,
                 cap: int | None) -> pd.DataFrame:
    keys = _KEYS[level]
    if keys:
        daily = sales.groupby([*keys, "ds"], sort=False, observed=True)["y"].sum().reset_index()
        volume = daily.groupby(keys, observed=True)["y"].sum().sort_values(
            ascending=False, kind="stable")
        if cap is not None and len(volume) > cap:
            kept = volume.index[:cap]
            index = pd.MultiIndex.from_frame(daily[keys]) if len(keys) > 1 else pd.Index(daily[keys[0]])
            daily = daily[index.isin(kept)]
    else:
        daily = sales.groupby("ds")["y"].sum().reset_index()
    # One row per series per day from the series' first sale to the data set's last day.
    group_keys = keys if keys else None
    if group_keys:
        firsts = daily.groupby(group_keys, observed=True)["ds"].min().reset_index()
    else:
        firsts = pd.DataFrame({"ds": [daily["ds"].min()]})
    lengths = ((last_day - firsts["ds"]).dt.days + 1).to_numpy()
    grid = pd.DataFrame({
        "ds": np.concatenate([pd.date_range(start, last_day, freq="D").to_numpy()
                              for start in firsts["ds"]]),
    })
    for key in keys:
        grid[key] = np.repeat(firsts[key].to_numpy(), lengths)
    frame = grid.merge(daily, on=[*keys, "ds"], how="left")
    frame["y"] = frame["y"].fillna(0.0)
    frame["level"] = level
    frame["shop_id"] = frame["shop_id"] if "shop_id" in keys else None
    frame["product_id"] = frame["product_id"] if "product_id" in keys else None
    frame["series_id"] = _series_ids(level, frame)
    frame = frame.sort_values(["series_id", "ds"], kind="stable").reset_index(drop=True)
    return frame[PANEL_COLUMNS]


def _series_ids(level: str, frame: pd.DataFrame) -> pd.Series:
    if level == "total":
        return pd.Series("total", index=frame.index)
    if level == "shop":
        return "shop=" + frame["shop_id"].astype(str)
    if level == "product":
        return "product=" + frame["product_id"].astype(str)
    return "shop=" + frame["shop_id"].astype(str) + "|product=" + frame["product_id"].astype(str)


def _empty_panel() -> pd.DataFrame:
    return pd.DataFrame({
        "level": pd.Series(dtype=str), "series_id": pd.Series(dtype=str),
        "shop_id": pd.Series(dtype=str), "product_id": pd.Series(dtype=str),
        "ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float),
    })


def series_keys(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per series: level, series_id, shop_id, product_id."""
    return (panel[["level", "series_id", "shop_id", "product_id"]]
            .drop_duplicates("series_id").reset_index(drop=True))
