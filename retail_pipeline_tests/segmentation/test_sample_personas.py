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
    for column in ("transaction_id", "product_id", "shop_id", "actual_price", "transaction_date"):
        pd.testing.assert_series_equal(data.transactions[column], core["transactions"][column])
    assert (data.transactions["customer_id"].isna() == core["transactions"]["customer_id"].isna()).all()
