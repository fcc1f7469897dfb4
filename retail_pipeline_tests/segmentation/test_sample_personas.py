"""The personas planted by the sample generator: hidden from the contract, visible in behaviour."""

import pandas as pd

from retail_pipeline.contract import ENTITIES
from retail_pipeline.sample import SampleSize, generate
from retail_pipeline.sample.customers import PERSONAS, persona_counts
from retail_pipeline.sample.sales import generate_sales
from retail_pipeline_tests.conftest import SMALL, typed_tables


def test_personas_live_only_in_the_truth(small_sample):
    truth = small_sample.truth["personas"]
    assert list(truth.columns) == ["customer_id", "persona"]
    assert set(truth["customer_id"]) == set(small_sample.customers["customer_id"])
    counts = truth["persona"].value_counts().to_dict()
    assert counts == {k: v for k, v in persona_counts(SMALL.customers).items() if v}
    assert "persona" not in small_sample.customers.columns
    assert set(small_sample.customers.columns) >= set(ENTITIES["customers"].column_names)
    typed_tables(small_sample)  # every table still passes the contract


def test_personas_differ_in_the_planted_behaviour():
    size = SampleSize(shops=4, products=30, customers=150, transactions=8_000,
                      start="2023-01-01", years=2)
    data = generate(size, seed=3)
    persona = data.truth["personas"].set_index("customer_id")["persona"]
    lines = data.transactions.dropna(subset=["customer_id"]).merge(
        data.products[["product_id", "category"]], on="product_id")
    lines["persona"] = lines["customer_id"].map(persona)
    customers = data.customers.assign(persona=data.customers["customer_id"].map(persona))
    age = customers.groupby("persona")["age"].mean()
    for name, spec in PERSONAS.items():
        assert abs(age[name] - spec["age"][0]) < 3 * spec["age"][1]
        home = customers.loc[customers["persona"] == name, "city"]
        assert (home == spec["city"][0]).mean() > 0.6
        bought = lines.loc[lines["persona"] == name, "category"]
        assert bought.isin(spec["categories"]).mean() > 0.5  # the persona's category mix
    quantity = lines.groupby("persona")["quantity"].mean()
    assert quantity["families"] > 2 * quantity["students"]  # basket size
    visits = (lines.assign(day=lines["transaction_date"].dt.normalize())
              .groupby(["persona", "customer_id"])["day"].nunique().groupby("persona").mean())
    assert visits["students"] > 4 * visits["occasional"]  # visit frequency


def test_the_part_leaves_dates_shops_products_and_walk_ins_alone():
    import numpy as np

    size = SampleSize(shops=3, products=20, customers=40, transactions=1_500)
    core = generate_sales(np.random.default_rng(9), size)
    data = generate(size, seed=9)
    # the returns part (last) appends its lines after the sale lines the personas part saw
    sales = data.transactions.iloc[: len(core["transactions"])]
    for column in ("transaction_id", "product_id", "shop_id", "actual_price", "transaction_date"):
        pd.testing.assert_series_equal(sales[column], core["transactions"][column])
    assert (sales["customer_id"].isna() == core["transactions"]["customer_id"].isna()).all()


def test_sample_command_writes_personas_to_a_side_file_ingestion_never_reads(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from retail_pipeline.cli.sample import personas_path, register
    from retail_pipeline.ingest import incoming
    from retail_pipeline.ingest.ingest import ingest_pending
    from retail_pipeline.platform.layout import DataLayout

    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """test app"""

    layout = DataLayout(tmp_path / "data").ensure()
    args = ["sample", "--shops", "2", "--products", "12", "--customers", "40",
            "--transactions", "800", "--years", "1", "--start", "2024-01-01", "--seed", "5"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    side = personas_path(layout.incoming)
    expected = generate(SampleSize(shops=2, products=12, customers=40, transactions=800,
                                   start="2024-01-01", years=1), seed=5).truth["personas"]
    written = pd.read_csv(side, dtype="str")
    pd.testing.assert_frame_equal(written, expected.astype("str"), check_dtype=False)
    customers = pd.read_csv(layout.incoming / "customers.csv", dtype="str")
    assert "persona" not in customers.columns  # the contract's table carries no persona

    # the sensor's scan neither offers the side file nor refuses (quarantines) its folder
    scan = incoming.scan(layout.incoming)
    assert not scan.refused
    assert sorted(e.path.name for e in scan.files) == sorted(
        f"{name}.csv" for name in ENTITIES if (layout.incoming / f"{name}.csv").exists())
    results = ingest_pending(layout, settle_seconds=0)
    assert results and all(r.accepted for r in results), [r.summary for r in results]
    assert all(".truth" not in r.file and "persona" not in r.file for r in results)
    assert side.exists() and not any(layout.quarantine.iterdir())
