"""The feature matrix K-Means sees: logs, z-scores, ordinal order, one-hot blocks of weight one."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.segmentation.encoding import FeatureEncoder


@pytest.fixture
def frame():
    return pd.DataFrame({
        "monetary": [10.0, 100.0, 1000.0, np.nan],
        "age": [20.0, 30.0, 40.0, 50.0],
        "income_bracket": ["low", "high", "middle", "platinum"],  # platinum: unknown value
        "city": ["Berlin", "Berlin", "Hamburg", None],
        "preferred_categories": ["Toys;Books", "Books", None, "Toys"],
    })


def test_numeric_ordinal_and_categorical_encodings(frame):
    enc = FeatureEncoder(list(frame.columns)).fit(frame)
    x = enc.transform(frame)
    cols = enc.columns
    assert cols[:3] == ["monetary", "age", "income_bracket"]
    # monetary: log1p, the missing value takes the median of the logs, then z-score
    logs = np.log1p([10.0, 100.0, 1000.0])
    filled = np.append(logs, np.median(logs))
    assert x[:, 0] == pytest.approx((filled - filled.mean()) / filled.std())
    assert x[:, 1] == pytest.approx((frame["age"] - 35) / frame["age"].std(ddof=0))
    # income: low < middle < high as 0 < 1 < 2; the unknown value takes the median rank (1)
    ranks = np.array([0.0, 2.0, 1.0, 1.0])
    assert x[:, 2] == pytest.approx((ranks - ranks.mean()) / ranks.std())
    # a categorical block has total variance one, whatever its number of levels
    for prefix in ("city=", "preferred_categories="):
        block = x[:, [i for i, c in enumerate(cols) if c.startswith(prefix)]]
        assert block.var(axis=0).sum() == pytest.approx(1.0)
    assert "city=unknown" in cols and "preferred_categories=Toys" in cols
    # the centres map back to the features' units
    back = enc.to_original(x)
    assert back["age"] == pytest.approx(frame["age"].to_numpy())
    assert back["city=Berlin"] == pytest.approx([1, 1, 0, 0])


def test_unseen_rows_use_the_training_scale(frame):
    enc = FeatureEncoder(["age", "city"]).fit(frame)
    new = pd.DataFrame({"age": [35.0], "city": ["Munich"]})  # a city never seen: all zeros
    row = enc.transform(new)[0]
    assert row[0] == pytest.approx(0.0)
    block = enc.blocks[0]
    assert row[1:] == pytest.approx(-block.means * block.weight)
    with pytest.raises(KeyError, match="age"):
        enc.transform(new.drop(columns="age"))


def test_business_profile_ordinals_follow_their_natural_order():
    levels = {"urban_rural_classification": ["urban", "rural", "Suburban"],
              "customer_age_class": ["senior", "child", "youth"],
              "customer_income_bracket": ["high", "low", "medium"],
              "customer_education_level": ["mid", "high", "low"]}
    # ranks in the documented orders: rural<suburban<urban, child<teenager<youth<adult<senior,
    # low<medium<high, low<mid<high (case does not matter)
    ranks = {"urban_rural_classification": [2.0, 0.0, 1.0],
             "customer_age_class": [4.0, 0.0, 2.0],
             "customer_income_bracket": [2.0, 0.0, 1.0],
             "customer_education_level": [1.0, 2.0, 0.0]}
    frame = pd.DataFrame(levels)
    enc = FeatureEncoder(list(levels)).fit(frame)
    x = enc.transform(frame)
    for i, column in enumerate(levels):
        r = np.array(ranks[column])
        assert x[:, i] == pytest.approx((r - r.mean()) / r.std()), column
        assert enc.to_original(x)[column] == pytest.approx(r)
