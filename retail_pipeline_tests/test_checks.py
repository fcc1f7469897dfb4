"""Asset checks called directly on good and broken tables."""

import dagster as dg
import pandas as pd
import pytest

from retail_pipeline.defs.ingest.checks import (
    no_zero_quantities,
    non_negative_prices,
    referential_coverage,
    unique_keys,
)
from retail_pipeline.defs.sales.assets import daily_sales_is_a_panel


def _frame(**cols):
    return pd.DataFrame(cols)


def test_unique_key_check_fails_on_duplicates_and_shows_them():
    check = next(c for c in unique_keys if "raw_shops" in str(c.check_keys))
    ok = check(_frame(shop_id=["S1", "S2"], city=["a", "b"], district=["x", None]))
    bad = check(_frame(shop_id=["S1", "S1", "S2"], city=["a", "b", "c"], district=[None] * 3))
    assert ok.passed and not bad.passed
    assert bad.severity == dg.AssetCheckSeverity.ERROR
    assert bad.metadata["offending_rows"].value == 2


def test_value_rules():
    sales = _frame(transaction_id=["T1", "T2", "T3"], quantity=[1, 0, -2], actual_price=[1.0, -0.01, 0.0])
    assert no_zero_quantities(sales).metadata["offending_rows"].value == 1  # returns are negative
    assert non_negative_prices(sales).metadata["offending_rows"].value == 1
    assert no_zero_quantities(sales.iloc[[0, 2]]).passed and non_negative_prices(sales.iloc[[0, 2]]).passed


def test_referential_coverage_warns_with_shares():
    sales = _frame(transaction_id=["T1", "T2", "T3", "T4"], customer_id=["C1", None, "C9", "C1"],
                   product_id=["P1", "P1", "P1", "P9"], shop_id=["S1", "S1", "S1", "S1"])
    result = referential_coverage(sales, _frame(customer_id=["C1"]), _frame(product_id=["P1"]),
                                  _frame(shop_id=["S1"]))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    md = result.metadata
    assert md["customer_id_coverage"].value == pytest.approx(2 / 3)  # the walk-in does not count
    assert md["product_id_coverage"].value == 0.75 and md["shop_id_coverage"].value == 1.0
    assert md["offending_rows"].value == 2


def test_daily_sales_panel_check():
    panel = _frame(date=pd.to_datetime(["2024-01-01"] * 2), shop_id=["S1", "S1"], product_id=["P1", "P2"],
                   quantity=[1.0, -2.0], gross_quantity=[1.0, 0.0], returned_quantity=[0.0, 2.0])
    assert daily_sales_is_a_panel(panel).passed  # a return-only day has a negative net
    assert not daily_sales_is_a_panel(pd.concat([panel, panel.iloc[:1]])).passed
    unbalanced = panel.assign(quantity=[1.0, -1.0])
    result = daily_sales_is_a_panel(unbalanced)
    assert not result.passed and result.metadata["net_not_gross_minus_returned"].value == 1


def test_upload_freshness_reads_the_ledger(tmp_path, monkeypatch):
    from retail_pipeline.defs.ingest.freshness import upload_freshness
    from retail_pipeline.defs.resources import DataDirResource
    from retail_pipeline.ingest.ledger import Ledger

    data_dir = DataDirResource(root=str(tmp_path))
    check = next(c for c in upload_freshness if "raw_transactions" in str(c.check_keys))
    never = check(data_dir=data_dir)
    assert not never.passed and never.severity == dg.AssetCheckSeverity.WARN
    assert never.metadata["last_upload"].value == "never"
    recent = pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=3)
    Ledger(data_dir.layout.store).record("a" * 64, {"rows": {"transactions": 5}, "ingested_at": recent.isoformat()})
    Ledger(data_dir.layout.store).record("b" * 64, {"rows": {"products": 5},
                                                    "ingested_at": pd.Timestamp.now(tz="UTC").isoformat()})
    fresh = check(data_dir=data_dir)
    assert fresh.passed and fresh.metadata["age_hours"].value == pytest.approx(3, abs=0.05)
    monkeypatch.setenv("RETAIL_MAX_UPLOAD_AGE_HOURS", "2")
    assert not check(data_dir=data_dir).passed
