"""The chunked sample (``retail_pipeline.sample.chunked``): the 10M-line generator, on a small
size with a tiny chunk forced, checked with plain pandas on the files it writes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from retail_pipeline.cli import app
from retail_pipeline.cli.sample import personas_path, write_sample
from retail_pipeline.contract import validate
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.sample import SampleSize
from retail_pipeline.sample.chunked import ChunkedSample, day_chunks
from retail_pipeline.sample.sales import CANCELLATION_SHARE, RETURN_SHARE, VOID_SHARE
from retail_pipeline.sample.size import SCALES

SIZE = SampleSize(shops=6, products=40, customers=400, transactions=50_000, years=2)
CHUNK = 6_000
SEED = 11


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("chunked")
    return out, write_sample(out, SIZE, SEED, show_progress=False, chunk_lines=CHUNK)


@pytest.fixture(scope="module")
def lines(written) -> pd.DataFrame:
    """Every transaction line of every chunk file, with the chunk number."""
    _, paths = written
    chunks = sorted(k for k in paths if k.startswith("transactions-"))
    frames = [_read(paths[k]).assign(chunk=i) for i, k in enumerate(chunks)]
    out = pd.concat(frames, ignore_index=True)
    out["quantity"] = out["quantity"].astype(int)
    out["actual_price"] = out["actual_price"].astype(float)
    out["date"] = pd.to_datetime(out["transaction_date"])
    return out


def _sale(lines: pd.DataFrame) -> pd.Series:
    return (lines["quantity"] > 0) & (lines["line_type"] != "void")


def test_chunk_files_and_contract(written):
    out, paths = written
    names = sorted(p.name for p in out.glob("transactions*.csv"))
    assert names == [f"transactions-{k:04d}.csv" for k in range(1, len(names) + 1)]
    assert len(names) >= SIZE.transactions // CHUNK  # whole days of at most CHUNK sale lines each
    assert not (out / "transactions.csv").exists()
    for name, path in paths.items():
        entity = "transactions" if name.startswith("transactions-") else name
        validate(_read(path), entity, path.name)  # raises on any broken rule


def test_exact_counts_unique_ids_and_chunk_bounds(written, lines):
    _, paths = written
    sale = _sale(lines)
    assert sale.sum() == SIZE.transactions
    assert lines["transaction_id"].is_unique
    assert (lines.loc[sale].groupby("chunk").size() <= CHUNK).all()
    # sale lines of a chunk are whole days, in order: no day is split between two chunks
    by_day = lines.loc[sale].groupby(lines.loc[sale, "date"].dt.normalize())["chunk"].nunique()
    assert (by_day == 1).all()
    first = lines.loc[sale].groupby("chunk")["date"].min()
    last = lines.loc[sale].groupby("chunk")["date"].max()
    assert (first.to_numpy()[1:] > last.to_numpy()[:-1]).all()
    assert _read(paths["shops"]).shape[0] == SIZE.shops
    assert _read(paths["products"]).shape[0] == SIZE.products
    assert _read(paths["customers"]).shape[0] == SIZE.customers


def test_returns_planted_per_chunk_with_the_shares(lines):
    sale = _sale(lines)
    per_chunk = lines.loc[sale].groupby("chunk").size()
    returns = (lines["quantity"] < 0) & (lines["line_type"] == "")
    cancels = lines["line_type"] == "cancellation"
    voids = lines["line_type"] == "void"
    # at most the drawn share of each chunk (those dated after the history's end are dropped)
    for mask, share in ((returns, RETURN_SHARE), (cancels, CANCELLATION_SHARE), (voids, VOID_SHARE)):
        drawn = sum(int(round(share * n)) for n in per_chunk)
        assert 0.9 * drawn <= mask.sum() <= drawn
    # each return mirrors a sale of the same chunk: same customer, product, shop, price
    sales = lines.loc[sale]
    keys = ["customer_id", "product_id", "shop_id", "actual_price", "chunk"]
    back = lines.loc[returns | cancels]
    matched = back.merge(sales[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    assert (matched["_merge"] == "both").all()
    end = pd.Timestamp(SIZE.start) + pd.Timedelta(days=int(round(365.25 * SIZE.years)))
    assert lines["date"].max() < end


def test_demand_structure_kept(lines):
    sale = lines.loc[_sale(lines)]
    by_weekday = sale.groupby(sale["date"].dt.weekday).size()
    assert by_weekday.idxmax() == 5  # Saturday busiest, as in the in-memory sample
    december = sale[sale["date"].dt.month == 12].groupby(sale["date"].dt.year).size()
    june = sale[sale["date"].dt.month == 6].groupby(sale["date"].dt.year).size()
    assert (december > june).all()
    assert 0.03 < (sale["customer_id"] == "").mean() < 0.05  # 4 % walk-ins


def test_personas_stock_and_marketing(written, lines):
    out, paths = written
    customers = _read(paths["customers"])
    personas = pd.read_csv(personas_path(out), dtype=str)
    assert set(personas["customer_id"]) == set(customers["customer_id"])
    known = lines.loc[lines["customer_id"] != "", "customer_id"]
    assert known.isin(customers["customer_id"]).all()
    # stock snapshots exist for exactly the pairs with sale lines in the last 90 days
    sale = lines.loc[_sale(lines)]
    last = sale["date"].dt.normalize().max()
    recent = sale[sale["date"].dt.normalize() > last - pd.Timedelta(days=90)]
    stock = _read(paths["stock_levels"])
    current = stock[stock["date"] == last.strftime("%Y-%m-%d")]
    assert set(zip(current["shop_id"], current["product_id"], strict=True)) == set(
        zip(recent["shop_id"], recent["product_id"], strict=True))
    spend = _read(paths["marketing_spend"])
    assert spend["date"].nunique() == int(round(365.25 * SIZE.years))
    assert set(spend["channel"]) == {"search", "social", "display", "email", "tv"}


def test_truth_matches_the_files():
    sample = ChunkedSample(SIZE, SEED, CHUNK)
    frames = list(sample.transactions())
    tx = pd.concat(frames, ignore_index=True)
    sale = (tx["quantity"] > 0) & (tx["line_type"] != "void")
    truth = sample.truth["returns"]
    assert truth["sale_lines"] == sale.sum() == SIZE.transactions
    assert truth["sold_units"] == tx.loc[sale, "quantity"].sum()
    assert truth["returned_units"] == -tx.loc[(tx["quantity"] < 0) & tx["line_type"].isna(), "quantity"].sum()
    assert truth["void_lines"] == (tx["line_type"] == "void").sum()
    assert sample.truth["understocked_pairs"]  # a third of the pairs
    assert len(sample.truth["personas"]) == SIZE.customers


def test_deterministic_for_a_seed():
    def chunks(seed: int) -> list[pd.DataFrame]:
        return list(ChunkedSample(SampleSize(shops=3, products=12, customers=50, transactions=3_000, years=1),
                                  seed, 700).transactions())

    a, b, c = chunks(5), chunks(5), chunks(6)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)
    assert not pd.concat(a)["actual_price"].reset_index(drop=True).equals(
        pd.concat(c)["actual_price"].reset_index(drop=True))


def test_day_chunks():
    per_day = np.array([3, 0, 4, 9, 1, 1, 0])
    assert day_chunks(per_day, 5) == [(0, 2), (2, 3), (3, 4), (4, 7)]
    assert day_chunks(per_day, 100) == [(0, 7)]
    with pytest.raises(ValueError, match="at least 1"):
        day_chunks(per_day, 0)


def test_chunk_files_ingest(written, lines, tmp_path):
    out, paths = written
    layout = DataLayout(tmp_path / "data").ensure()
    order = ["shops", "products", "customers"] + sorted(k for k in paths if k.startswith("transactions-"))
    for name in order:
        result = ingest_file(paths[name], layout)
        assert result.status == "accepted", result.summary()
    stored = TableStore(layout.store).read("transactions")
    assert len(stored) == len(lines)
    assert set(stored["transaction_id"]) == set(lines["transaction_id"])
    assert int(stored["quantity"].sum()) == int(lines["quantity"].sum())


def test_cli_scale_presets(tmp_path):
    assert SCALES["xlarge"]().transactions == 10_000_000 and SCALES["xlarge"]().chunked
    assert not SCALES["large"]().chunked and SCALES["default"]() == SampleSize()
    result = CliRunner().invoke(app, ["sample", "--scale", "small", "--transactions", "2000", "--years", "1",
                                      "--chunk-lines", "900", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("transactions-*.csv"))
    assert len(files) >= 3
    tx = pd.concat([_read(f) for f in files])
    assert ((tx["quantity"].astype(int) > 0) & (tx["line_type"] != "void")).sum() == 2000
    assert _read(tmp_path / "shops.csv").shape[0] == SampleSize.small().shops
    bad = CliRunner().invoke(app, ["sample", "--scale", "huge", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "unknown scale" in bad.output
