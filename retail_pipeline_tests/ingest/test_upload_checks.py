"""Asset checks with severities on sales lines and uploads: each count is computed here with
plain pandas (or from the raw file) and compared with what the check reports."""

import gzip
import hashlib
import io

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from retail_pipeline.contract import validate
from retail_pipeline.defs.ingest.checks import (
    exact_duplicate_lines,
    no_zero_quantities,
    unit_outliers,
    zero_price_lines,
)
from retail_pipeline.defs.ingest.uploads import KNOWN_IDS, upload, uploads
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ingest import ingest_file

from .helpers import STORE_ITEM, TX_HEADER, drop, tx_csv

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    """Typed sales lines with planted defects: exact copies under new ids, stock adjustments at
    0.00, a few huge lines, and returns (negative quantities, which are fine)."""
    rng = np.random.default_rng(7)
    n = 2000
    frame = pd.DataFrame({
        "transaction_id": [f"T{i}" for i in range(n)],
        "customer_id": [f"C{i}" for i in rng.integers(0, 50, n)],
        "product_id": [f"P{i}" for i in rng.integers(0, 30, n)],
        "shop_id": [f"S{i}" for i in rng.integers(0, 4, n)],
        "quantity": rng.integers(1, 13, n),
        "actual_price": rng.integers(50, 2000, n) / 100,
        "transaction_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 3_000_000, n), "s"),
        "payment_method": "card",
    })
    frame.loc[frame.index % 97 == 5, "quantity"] *= -1  # returns
    frame.loc[[11, 222, 333], ["quantity", "actual_price"]] = [[10_200, 0.0], [5, 0.0], [-40, 0.0]]
    frame.loc[[400, 401], "quantity"] = [2_400, -3_000]
    copies = frame.iloc[[1, 2, 3, 50, 50, 11]].assign(transaction_id=[f"D{i}" for i in range(6)])
    text = pd.concat([frame, copies], ignore_index=True).astype(str)
    return validate(text, "transactions", "lines.csv")


def test_exact_duplicate_lines_warn_with_their_count(lines):
    others = [c for c in lines.columns if c != "transaction_id"]
    expected = int(lines.duplicated(others).sum())
    assert expected == 6
    result = exact_duplicate_lines(lines)
    assert not result.passed and result.severity == WARN
    assert result.metadata["duplicate_lines"].value == expected == result.metadata["offending_rows"].value
    extra = lines[lines.duplicated(others)]
    assert result.metadata["duplicate_units"].value == int(extra["quantity"].sum())
    assert exact_duplicate_lines(lines.drop_duplicates(others)).passed


def test_zero_price_lines_warn_counted_and_listed(lines):
    zero = lines[(lines["actual_price"] == 0) & (lines["quantity"] != 0)]
    assert len(zero) == 4  # the three planted ones and the copy of the 10,200-unit adjustment
    result = zero_price_lines(lines)
    assert not result.passed and result.severity == WARN
    assert result.metadata["zero_price_lines"].value == len(zero)
    assert result.metadata["zero_price_units"].value == int(zero["quantity"].sum()) == 10_200 * 2 + 5 - 40
    assert "10200" in result.metadata["sample"].value


def test_unit_outliers_warn_counted_and_listed(lines):
    units = lines["quantity"].abs()
    median = units.groupby(lines["product_id"]).transform("median")
    expected = lines[(units >= 100) & (units > 50 * median)]
    assert set(expected["transaction_id"]) == {"T11", "T400", "T401", "D5"}
    result = unit_outliers(lines)
    assert not result.passed and result.severity == WARN
    assert result.metadata["outlier_lines"].value == len(expected)
    assert result.metadata["outlier_units"].value == int(expected["quantity"].sum())


def test_zero_quantities_are_an_error_but_returns_are_not(lines):
    assert no_zero_quantities(lines).passed  # negative quantities are returns
    broken = lines.astype({"quantity": "Int64"}).copy()
    broken.loc[[3, 4], "quantity"] = 0
    result = no_zero_quantities(broken)
    assert not result.passed and result.severity == ERROR and result.metadata["offending_rows"].value == 2


@pytest.fixture(scope="module")
def store_item_head() -> bytes:
    """The first 3,000 lines of the real `date,store,item,sales` file (stores 1-10, items 1-50)."""
    with gzip.open(STORE_ITEM, "rt", encoding="utf-8") as handle:
        return "".join(next(handle) for _ in range(3001)).encode("utf-8")


def _materialize(instance, layout, name, raw):
    path = drop(layout, name, raw)
    key = hashlib.sha256(raw).hexdigest()[:16]
    instance.add_dynamic_partitions(uploads.name, [key])
    return dg.materialize([upload], partition_key=key, instance=instance,
                          resources={"data_dir": DataDirResource(root=str(layout.root))},
                          run_config={"ops": {"upload": {"config": {"path": str(path)}}}})


def _check(result, name):
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == name]
    return check


def test_an_upload_whose_ids_match_no_known_shop_or_product_warns(layout, store_item_head):
    sales = tx_csv(*[f"T{i},C{i % 9},SKU-{i % 12},Shop-{i % 3},{1 + i % 4},3.20,2024-05-{1 + i % 28:02d},card"
                     for i in range(300)], header=TX_HEADER)
    raw = pd.read_csv(io.BytesIO(store_item_head), dtype=str)
    with dg.DagsterInstance.ephemeral() as instance:
        first = _check(_materialize(instance, layout, "sales.csv", sales), KNOWN_IDS)
        assert first.passed  # nothing was known before the first upload: nothing to compare
        check = _check(_materialize(instance, layout, "train.csv", store_item_head), KNOWN_IDS)
    assert not check.passed and check.severity == WARN
    md = check.metadata
    assert md["distinct_shop_ids"].value == raw["store"].nunique() == md["unknown_shop_ids"].value
    assert md["distinct_product_ids"].value == raw["item"].nunique() == md["unknown_product_ids"].value
    assert md["rows_with_unknown_shop_id"].value == len(raw)
    assert set(md["examples"].value["shop_id"]) <= set(raw["store"])


def test_an_upload_with_known_ids_passes(layout):
    first = tx_csv(*[f"T{i},C1,P{i % 5},S{i % 2},1,2.00,2024-05-01,card" for i in range(50)])
    again = tx_csv(*[f"U{i},C1,P{i % 6},S{i % 2},1,2.00,2024-05-02,card" for i in range(50)])
    ingest_file(drop(layout, "first.csv", first), layout)
    with dg.DagsterInstance.ephemeral() as instance:
        check = _check(_materialize(instance, layout, "again.csv", again), KNOWN_IDS)
    assert check.passed
    assert check.metadata["unknown_product_ids"].value == 1  # P5 is new: counted, not enough to warn
    assert check.metadata["examples"].value["product_id"] == ["P5"]


ONLINE_RETAIL = STORE_ITEM.parents[1] / "online_retail" / "online_retail_II_2009_2010.csv.gz"


@pytest.fixture(scope="module")
def online_retail(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real Online Retail II file: as plain pandas reads it, and as ingested (read once)."""
    from retail_pipeline.ingest.store import TableStore
    from retail_pipeline.platform.layout import DataLayout

    layout = DataLayout(tmp_path_factory.mktemp("online_retail") / "data").ensure()
    result = ingest_file(ONLINE_RETAIL, layout)
    assert result.accepted, result.summary
    return pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False), TableStore(layout.store).read("transactions")


def test_the_real_duplicate_and_zero_price_lines_are_flagged(online_retail):
    raw, lines = online_retail
    duplicates = int(raw.duplicated().sum())  # identical in every column of the export
    price, quantity = pd.to_numeric(raw["Price"]), pd.to_numeric(raw["Quantity"])
    zero = int(((price == 0) & (quantity != 0)).sum())
    assert duplicates > 1000 and zero > 1000  # the defects the issue names are in the file
    copies = exact_duplicate_lines(lines)
    assert not copies.passed and copies.metadata["duplicate_lines"].value == duplicates
    free = zero_price_lines(lines)
    assert not free.passed and free.metadata["zero_price_lines"].value == zero
    assert free.metadata["zero_price_units"].value == int(quantity[(price == 0) & (quantity != 0)].sum())
