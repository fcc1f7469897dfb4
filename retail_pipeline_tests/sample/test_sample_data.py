"""The sample generator: deterministic, valid against the contract, realistic patterns."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from retail_pipeline.cli import app
from retail_pipeline.sample import SampleSize, generate
from retail_pipeline.sample.sales import (
    CANCELLATION_DELAY_DAYS,
    RETURN_DELAY_DAYS,
    RETURN_SHARE,
    _easter,
    daily_intensity,
)
from retail_pipeline_tests.conftest import SMALL, typed_tables


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = generate(SMALL, 1), generate(SMALL, 1), generate(SMALL, 2)
    for name in a.tables():
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])
    assert not a.transactions["actual_price"].equals(c.transactions["actual_price"])


def test_sizes_keys_and_contract(small_sample):
    tables = typed_tables(small_sample)  # raises if any row breaks the contract
    planted = small_sample.truth["returns"]
    assert (tables["transactions"]["quantity"] > 0).sum() - planted["void_lines"] == SMALL.transactions
    assert len(tables["transactions"]) == SMALL.transactions + planted["return_lines"] + planted[
        "cancellation_lines"] + planted["void_lines"]
    assert tables["transactions"]["transaction_id"].is_unique
    assert len(tables["shops"]) == SMALL.shops and len(tables["products"]) == SMALL.products
    assert len(tables["customers"]) == SMALL.customers
    t = tables["transactions"]
    assert t["transaction_date"].min() >= pd.Timestamp(SMALL.start)
    assert t["transaction_date"].max() < pd.Timestamp(SMALL.start) + pd.DateOffset(years=SMALL.years)
    assert set(t["payment_method"]) == {"card", "cash", "mobile", "voucher"}
    assert t["product_id"].isin(tables["products"]["product_id"]).all()


def test_prices_deviate_from_standard_price(small_sample):
    joined = small_sample.transactions.merge(small_sample.products, on="product_id")
    ratio = joined["actual_price"] / joined["standard_price"]
    assert (ratio.round(2) == 1).mean() > 0.5  # most sales at list price
    assert (ratio < 0.96).mean() > 0.1 and (ratio > 1.0).mean() > 0.01  # discounts and premiums


def test_weekly_yearly_and_holiday_structure():
    days = pd.date_range("2023-01-01", "2024-12-31")
    intensity = pd.Series(daily_intensity(days), index=days)
    by_weekday = intensity.groupby(intensity.index.weekday).mean()
    assert by_weekday.idxmax() == 5  # Saturday busiest
    assert intensity["2023-12-15":"2023-12-22"].mean() > 1.5 * intensity["2023-06-01":"2023-06-30"].mean()
    assert intensity["2023-11-24"] > 1.8 * intensity["2023-11-17"]  # Black Friday 2023
    assert _easter(2024) == pd.Timestamp("2024-03-31") and _easter(2025) == pd.Timestamp("2025-04-20")


def test_large_size_reaches_a_million_transactions():
    assert SampleSize.large().transactions >= 1_000_000


def test_cli_writes_canonical_csv_files(tmp_path):
    result = CliRunner().invoke(app, ["sample", "--out", str(tmp_path), "--transactions", "500",
                                      "--shops", "3", "--products", "12", "--customers", "30", "--seed", "3"])
    assert result.exit_code == 0, result.output
    written = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")}  # hidden: truth side files
    data = generate(SampleSize(shops=3, products=12, customers=30, transactions=500), 3)
    assert {"transactions.csv", "customers.csv", "products.csv", "shops.csv"} <= written
    assert written == {f"{name}.csv" for name in data.tables()}  # every part's upload, no more
    frame = pd.read_csv(tmp_path / "transactions.csv")
    expected = data.transactions
    assert len(frame) == len(expected) and (frame["line_type"].isna() & (frame["quantity"] > 0)).sum() == 500
    assert np.allclose(frame["actual_price"], expected["actual_price"])


def test_planted_returns_mirror_their_sale(small_sample):
    planted = small_sample.truth["returns"]
    lines = small_sample.transactions.set_index("transaction_id")
    links = planted["lines"]
    line = lines.loc[links["transaction_id"]].reset_index()
    sale = lines.loc[links["sale_transaction_id"]].reset_index()
    assert sale["line_type"].isna().all() and (sale["quantity"] > 0).all()
    same = ["product_id", "shop_id", "actual_price", "payment_method"]
    assert (line[same].to_numpy() == sale[same].to_numpy()).all()
    assert (line["customer_id"].fillna("-") == sale["customer_id"].fillna("-")).all()
    delay = (line["transaction_date"].dt.normalize() - sale["transaction_date"].dt.normalize()).dt.days
    kind = links["line_type"].to_numpy()
    back = kind != "void"
    assert (line.loc[back, "quantity"] < 0).all() and (-line.loc[back, "quantity"] <= sale.loc[back, "quantity"]).all()
    cancel = kind == "cancellation"
    assert (line.loc[cancel, "quantity"] == -sale.loc[cancel, "quantity"]).all()
    assert (line.loc[cancel, "line_type"] == "cancellation").all()
    assert line.loc[kind == "return", "line_type"].isna().all()  # empty type: the sign says return
    assert delay[kind == "return"].between(*RETURN_DELAY_DAYS).all()
    assert delay[cancel].between(*CANCELLATION_DELAY_DAYS).all()
    assert (line.loc[kind == "void", "line_type"] == "void").all() and (line.loc[kind == "void", "quantity"] > 0).all()
    assert links["sale_transaction_id"][back].is_unique  # a sale is returned or cancelled once at most
    # counts and rate as recorded, recomputed from the lines
    assert (kind == "return").sum() == planted["return_lines"]
    assert cancel.sum() == planted["cancellation_lines"] and (kind == "void").sum() == planted["void_lines"]
    sales = small_sample.transactions[small_sample.transactions["line_type"].isna()
                                      & (small_sample.transactions["quantity"] > 0)]
    assert planted["return_rate"] == -line.loc[back, "quantity"].sum() / sales["quantity"].sum()
    # about RETURN_SHARE of the sale lines come back (fewer: those due after the last day are not planted)
    assert 0.9 * RETURN_SHARE * len(sales) <= planted["return_lines"] <= RETURN_SHARE * len(sales)
