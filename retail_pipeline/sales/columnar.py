"""The columnar engine of the large sales steps: the same frames as ``features``, faster at scale.

``features.build_sales_features`` and ``features.build_daily_sales`` use it when the engine
is ``duckdb`` (``RETAIL_ENGINE``, or ``auto`` from ``settings.AUTO_DUCKDB_ROWS`` lines on).
The results are identical to the pandas path, bit for bit: same columns, dtypes, values and
row order (``retail_pipeline_tests/sales/test_columnar.py`` compares the two).

What runs where (measured in BENCHMARKS.md, "Sales steps: pandas against DuckDB"):

- The dimension joins of ``build_sales_features``: each pandas ``merge`` copies the whole
  growing frame, three times. Here DuckDB hash-joins only the key columns and returns, per
  transaction line, the row of its customer, product and shop; the dimension attributes are
  then gathered once with ``take`` and the transaction columns are reused without copying.
- The per-line measures (``line_measures``, used by both steps): the pandas version compares
  strings on every line; this one resolves the few distinct ``line_type`` values once and
  does the rest with integer codes and the same numpy arithmetic.
- The daily panel (``daily_line_sums``): the pandas version groups by a date and two text
  columns turned into numpy objects (10M Python strings each), then sorts the panel by
  them. This one ranks the few distinct shop and product ids once, folds date, shop and
  product into one integer key whose order is the panel's order, and sorts the lines by it
  (stable). The sums stay pandas' group-by sums: pandas adds each group with compensated
  (Kahan) summation in line order, which a stable sort keeps; DuckDB's ``sum`` and ``fsum``
  round differently in the last bit (about 1 group in 10 on random prices).

``duckdb`` is imported inside the functions: loading the code location must not pay for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_pipeline.sales import features as pandas_engine
from retail_pipeline.sales.features import (
    DAILY_SUMS,
    RETURN,
    RETURN_TYPES,
    SALE,
    UNCATEGORISED,
    UNKNOWN_PRODUCT,
    VOID,
    JoinReport,
    measures_frame,
)


def _connect():
    import duckdb

    con = duckdb.connect(database=":memory:")
    con.execute("SET preserve_insertion_order = false")
    return con


def _keys(values: pd.Series) -> pa.Array:
    """A key column as Arrow text (zero-copy for pandas' Arrow-backed ``str``)."""
    keys = pa.array(values if isinstance(values.dtype, pd.StringDtype) else values.astype("str"))
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys


def _encoded(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a text column (Arrow, first-appearance order) and, per line,
    the position of its value among them (``len(distinct)`` for a missing value)."""
    encoded = _keys(values).dictionary_encode()
    distinct = encoded.dictionary
    return distinct, encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)


def _distinct(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``_encoded`` with the distinct values as a ``str`` Series: a per-line rule then runs
    once per distinct value."""
    distinct, indices = _encoded(values)
    return pd.Series(distinct.to_pylist(), dtype="str"), indices


def _dimension_rows(con, left_keys: pd.Series, dim: pd.DataFrame, key: str, entity: str) -> np.ndarray:
    """Per left row, the position of its row in ``dim`` (-1 when there is none).

    Checks that ``dim`` has unique keys (pandas' ``validate="many_to_one"``) and, like
    ``pandas.merge``, lets a missing left key match a missing dimension key.
    """
    dim_keys = dim[key]
    if dim_keys.duplicated().any():
        raise pd.errors.MergeError(
            f"Merge keys are not unique in right dataset; not a many-to-one merge "
            f"({entity}: {int(dim_keys.duplicated().sum())} duplicated {key})")
    positions = np.full(len(left_keys), -1, dtype=np.int64)
    left_missing = left_keys.isna().to_numpy()
    dim_missing = dim_keys.isna().to_numpy()
    if len(dim) == 0 or len(left_keys) == 0:
        return positions
    left = pa.table({"rid": pa.array(np.arange(len(left_keys), dtype=np.int64)), "k": _keys(left_keys)})
    right = pa.table({"pos": pa.array(np.arange(len(dim), dtype=np.int64)), "k": _keys(dim_keys)})
    con.register("left_keys", left)
    con.register("dim_keys", right)
    try:
        matched = con.execute(
            "SELECT l.rid, d.pos FROM left_keys l JOIN dim_keys d ON l.k = d.k").fetchnumpy()
    finally:
        con.unregister("left_keys")
        con.unregister("dim_keys")
    positions[np.asarray(matched["rid"], dtype=np.int64)] = np.asarray(matched["pos"], dtype=np.int64)
    if dim_missing.any() and left_missing.any():
        positions[left_missing] = int(np.flatnonzero(dim_missing)[0])
    return positions


def _take(column: pd.Series, positions: np.ndarray, any_missing: bool):
    """``column`` at ``positions``; -1 gives NA, with the dtype pandas' merge would give."""
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return column.array.take(positions, allow_fill=any_missing)
    return pd.api.extensions.take(column.to_numpy(), positions, allow_fill=any_missing)


def build_sales_features(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    shops: pd.DataFrame,
) -> tuple[pd.DataFrame, JoinReport]:
    """``features.build_sales_features`` with the joins in DuckDB (same frame, same report)."""
    columns: dict[str, object] = {c: transactions[c].array for c in transactions.columns}
    unknown: dict[str, int] = {}
    con = _connect()
    try:
        for dim, key, entity in ((customers, "customer_id", "customers"),
                                 (products, "product_id", "products"),
                                 (shops, "shop_id", "shops")):
            dim = dim.rename(columns=pandas_engine._RENAMES[entity])
            clashes = {c: f"{entity[:-1]}_{c}" for c in dim.columns if c != key and c in columns}
            dim = dim.rename(columns=clashes)
            added = [c for c in dim.columns if c != key]
            if dim.columns.duplicated().any() or any(c in columns for c in added):
                # a name still taken after the renames: pandas' merge adds _x/_y suffixes, which
                # only pandas itself reproduces (the contract's tables never get here)
                return pandas_engine.build_sales_features(transactions, customers, products, shops,
                                                          engine="pandas")
            left_keys = pd.Series(columns[key], copy=False)
            positions = _dimension_rows(con, left_keys, dim, key, entity)
            missing = positions < 0
            unknown[entity] = int((missing & left_keys.notna().to_numpy()).sum())
            any_missing = bool(missing.any())
            for c in added:  # missing rows: NA, and pandas' merge dtypes (int -> float, bool -> object)
                columns[c] = _take(dim[c], positions, any_missing)
    finally:
        con.close()
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(transactions)), copy=False)
    return pandas_engine.with_line_features(out, unknown["customers"], unknown["products"],
                                            unknown["shops"], measure=line_measures)


def line_measures(transactions: pd.DataFrame) -> pd.DataFrame:
    """``features.line_measures``, equal frame, without a string comparison per line.

    The given ``line_type`` values are dictionary-encoded (Arrow) and only the few distinct
    ones are resolved, with ``resolve_line_types``' own pandas expression; every per-line
    test is then a lookup by code, and the arithmetic is the same numpy code.
    """
    quantity = transactions["quantity"].astype("float64").to_numpy()
    vocabulary = [SALE, RETURN]  # codes 0 and 1: resolved from the sign
    codes = np.where(quantity < 0, 1, 0)
    if "line_type" in transactions:
        given, indices = _distinct(transactions["line_type"])
        given = given.str.strip().str.lower()
        resolved = given.where(given.ne("")).tolist()
        lookup = np.array([-1 if pd.isna(r) else len(vocabulary) + i for i, r in enumerate(resolved)]
                          + [-1], dtype=np.int64)  # the last entry: a missing line_type
        vocabulary += [r if not pd.isna(r) else "" for r in resolved]
        mapped = lookup[indices]
        codes = np.where(mapped >= 0, mapped, codes)
    names = np.array(vocabulary, dtype=object)
    # like pandas' frame of numpy text: ``str``, or ``object`` when there is no line at all
    line_type = (pd.Series(vocabulary, dtype="str").array.take(codes) if len(codes)
                 else np.array([], dtype=object))
    return measures_frame(transactions, line_type, np.isin(names, RETURN_TYPES)[codes],
                          (names != VOID)[codes], (names == SALE)[codes])


DAY_NS = 86_400 * 10**9

# the measures summed per day, by the panel column each becomes (``DAILY_SUMS``' order)
_DAILY_MEASURES = {"quantity": "net_quantity", "revenue": "total_amount", "gross_quantity": "gross_quantity",
                   "returned_quantity": "returned_quantity", "gross_revenue": "gross_amount",
                   "returned_revenue": "returned_amount"}


def _ranked(values: pd.Series) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Per value, its rank among the distinct values in text order (-1: missing), and the
    distinct values in that order (``str``). pandas sorts ``str`` columns in the same
    (code point) order, so ranks sort like the texts."""
    distinct, indices = _encoded(values)
    order = np.asarray(pc.array_sort_indices(distinct), dtype=np.int64)
    rank = np.empty(len(distinct) + 1, dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    rank[-1] = -1  # a missing value
    return rank[indices], pd.array(distinct.take(pa.array(order)).to_pylist(), dtype="str")


def daily_line_sums(transactions: pd.DataFrame) -> pd.DataFrame:
    """``features.daily_line_sums``, equal frame, ordered by date, shop and product.

    The groups are those of the reference, numbered the same way (first appearance, lines in
    their order), so pandas sums them exactly as it sums the reference's groups; only the
    key is one int64 (day, then shop rank, then product rank) instead of a date and two
    columns of Python strings, and ordering the panel sorts that key. Lines missing a date,
    shop or product are left out, as pandas' group-by leaves them out.
    """
    measures = line_measures(transactions)
    days = transactions["transaction_date"].dt.normalize().to_numpy().astype("datetime64[ns]")
    shop_rank, shops = _ranked(transactions["shop_id"])
    product_rank, products = _ranked(transactions["product_id"])
    keep = measures["counted"].to_numpy() & ~np.isnat(days) & (shop_rank >= 0) & (product_rank >= 0)
    day = days.view("int64")[keep] // DAY_NS
    del days
    first_day = int(day.min()) if len(day) else 0
    per_day = len(shops) * len(products)
    key = (day - first_day) * per_day + shop_rank[keep] * len(products) + product_rank[keep]
    del day, shop_rank, product_rank
    block = np.empty((len(DAILY_SUMS), len(key)))  # the frame's own 2-D block: no stacking copy
    for row, column in enumerate(DAILY_SUMS):
        block[row] = measures[_DAILY_MEASURES[column]].to_numpy()[keep]
    del measures, keep
    grouped = pd.DataFrame(block.T, columns=DAILY_SUMS, copy=False).groupby(key, sort=False)
    sums, counts = grouped.sum(), grouped.size()
    del grouped, block, key
    order = np.argsort(sums.index.to_numpy())  # the keys are distinct: any sort gives one order
    key = sums.index.to_numpy()[order]
    return pd.DataFrame({
        "date": ((key // per_day + first_day) * DAY_NS).astype("datetime64[ns]"),
        "shop_id": shops.take(key // len(products) % len(shops)) if len(key) else shops[:0],
        "product_id": products.take(key % len(products)) if len(key) else products[:0],
        **{column: sums[column].to_numpy()[order] for column in DAILY_SUMS},
        "transaction_count": counts.to_numpy()[order],
        "source": "transactions",
    })


def category_label(features: pd.DataFrame) -> pd.Series:
    """``features.category_label``, equal series, with the text rule run once per distinct
    category instead of on every line (at 10M lines the per-line strip and fills took GBs)."""
    distinct, indices = _distinct(features["category"])
    stripped = distinct.str.strip()
    named = (stripped.notna() & stripped.ne("")).to_numpy()
    labels = [*stripped[named], UNCATEGORISED, UNKNOWN_PRODUCT]
    lookup = np.append(np.where(named, np.cumsum(named) - 1, -1), -1)  # the last: no category
    known = (features["product_name"].notna().to_numpy() if "product_name" in features
             else np.ones(len(features), dtype=bool))
    codes = lookup[indices]
    codes = np.where(codes >= 0, codes, np.where(known, len(labels) - 2, len(labels) - 1))
    return pd.Series(pd.Series(labels, dtype="str").array.take(codes), index=features.index, name="category")
