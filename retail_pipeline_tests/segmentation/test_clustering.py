"""K-Means segments: planted personas recovered, auto k, stable ids, reuse and drift, profiles."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.sales.features import build_sales_features
from retail_pipeline.sample import SampleSize, generate
from retail_pipeline.segmentation.clustering import (
    MODEL_NAME,
    assignments_frame,
    segment_customers,
    train,
)
from retail_pipeline.segmentation.features import customer_features
from retail_pipeline.segmentation.profiles import segment_overview, segment_profiles
from retail_pipeline.segmentation.settings import SegmentationSettings

PERSONA_SIZE = SampleSize(shops=4, products=30, customers=200, transactions=10_000,
                          start="2023-01-01", years=2)


@pytest.fixture(scope="module")
def persona_sample():
    data = generate(PERSONA_SIZE, seed=11)
    sales, _ = build_sales_features(data.transactions, data.customers, data.products, data.shops)
    features = customer_features(sales, data.customers)
    truth = data.truth["personas"].set_index("customer_id")["persona"]
    return features, truth


def blobs(k: int, per: int, seed: int, spread: float = 0.4) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers in ``k`` well-separated groups on three numeric features."""
    rng = np.random.default_rng(seed)
    centres = np.array([[8.0 * (i % 3 == j) + 4.0 * i for j in range(3)] for i in range(k)])
    labels = np.repeat(np.arange(k), per)
    x = centres[labels] + rng.normal(0, spread, (len(labels), 3))
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(len(labels))],
                          "f1": x[:, 0], "f2": x[:, 1], "f3": x[:, 2]})
    return frame, labels


def test_planted_personas_are_recovered(persona_sample):
    features, truth = persona_sample
    settings = SegmentationSettings(k="5")
    model = train(features, settings)
    found = assignments_frame(features, model, "test")
    ari = adjusted_rand_score(truth.loc[found["customer_id"]].to_numpy(), found["segment_id"])
    assert ari >= 0.9, ari


def test_profiles_describe_the_personas(persona_sample):
    features, truth = persona_sample
    model = train(features, SegmentationSettings(k="5"))
    found = assignments_frame(features, model, "v1")
    profiles = segment_profiles(features, found, model, "v1")
    overview = segment_overview(profiles)
    assert overview["size"].sum() == len(features) and overview["share"].sum() == pytest.approx(1)
    assert overview["segment_name"].is_unique
    # z-score of net spend in each segment, computed here from the raw columns
    merged = features.merge(found, on="customer_id")
    overall_mean, overall_std = merged["monetary"].mean(), merged["monetary"].std(ddof=0)
    for segment, part in merged.groupby("segment_id"):
        row = profiles[(profiles["segment_id"] == segment) & (profiles["feature"] == "monetary")]
        assert row["z_score"].item() == pytest.approx((part["monetary"].mean() - overall_mean)
                                                      / overall_std)
        assert row["median"].item() == pytest.approx(part["monetary"].median())
    # the planted retirees (Dresden, ~71) are named after their city and age band
    retirees = truth[truth == "retirees"].index
    segment = found.set_index("customer_id").loc[retirees, "segment_id"].mode().item()
    name = overview.set_index("segment_id").loc[segment, "segment_name"]
    assert "mostly Dresden" in name and name.endswith("65+"), name


def test_auto_finds_the_planted_k():
    for k in (3, 5):
        frame, labels = blobs(k, per=40, seed=k)
        settings = SegmentationSettings(k="auto", features=("f1", "f2", "f3"), n_init=3)
        model = train(frame, settings)
        assert model.k == k, model.selection
        assert set(model.selection["k"]) == set(range(2, 11))
        found = assignments_frame(frame, model, "v")
        assert adjusted_rand_score(labels, found["segment_id"]) == pytest.approx(1.0)


def test_auto_rejects_k_with_too_small_segments():
    frame, labels = blobs(3, per=60, seed=1)
    # six customers (3%) form a small, tight fourth group beside the first one
    rng = np.random.default_rng(0)
    small = frame.iloc[:6].assign(customer_id=[f"S{i}" for i in range(6)],
                                  f2=-12 + rng.normal(0, 0.2, 6))
    data = pd.concat([frame, small], ignore_index=True)
    strict = SegmentationSettings(k="auto", features=("f1", "f2", "f3"), min_segment_share=0.05,
                                  auto_max_k=5, n_init=3)
    lenient = SegmentationSettings(k="auto", features=("f1", "f2", "f3"), min_segment_share=0.01,
                                   auto_max_k=5, n_init=3)
    assert train(data, lenient).k == 4  # the small group is real: best silhouette at k=4
    model = train(data, strict)
    assert model.k == 3
    assert not model.selection.loc[model.selection["k"] == 4, "admissible"].item()
    assert model.selection.loc[model.selection["chosen"], "smallest_share"].item() >= 0.05
    with pytest.raises(ValueError, match="lower min_segment_share"):
        train(data.iloc[:-3], SegmentationSettings(k="auto", features=("f1", "f2", "f3"),
                                                   auto_min_k=4, auto_max_k=4,
                                                   min_segment_share=0.05, n_init=3))


def test_segment_ids_survive_a_retrain_on_a_shuffled_copy(tmp_path, persona_sample):
    features, _ = persona_sample
    registry = ModelRegistry(tmp_path / "models", key=b"k" * 32)
    settings = SegmentationSettings(k="5")
    first = segment_customers(features, settings, registry)
    assert first.trained and first.reason == "first model"
    shuffled = features.sample(frac=1, random_state=3).reset_index(drop=True)
    second = segment_customers(shuffled, settings, registry, force_retrain=True)
    assert second.trained and second.version != first.version
    before = first.assignments.set_index("customer_id")["segment_id"]
    after = second.assignments.set_index("customer_id")["segment_id"]
    assert (after.loc[before.index] == before).all()
    assert int(registry.list()["name"].eq(MODEL_NAME).sum()) == 2


def test_ids_follow_the_customers_not_the_cluster_order(tmp_path):
    """A retrain whose K-Means numbers the clusters differently still keeps every id."""
    frame, labels = blobs(4, per=50, seed=2)
    settings = SegmentationSettings(k="4", features=("f1", "f2", "f3"))
    registry = ModelRegistry(tmp_path / "models", key=b"k" * 32)
    first = segment_customers(frame, settings, registry).assignments
    for seed in (1, 2, 3):  # other seeds, other internal cluster numbering
        other = SegmentationSettings(k="4", features=("f1", "f2", "f3"), seed=seed)
        again = segment_customers(frame, other, registry).assignments
        assert (again["segment_id"].to_numpy() == first["segment_id"].to_numpy()).all()


def test_reuse_until_drift(tmp_path):
    frame, _ = blobs(3, per=60, seed=4)
    settings = SegmentationSettings(k="3", features=("f1", "f2", "f3"), drift_threshold=0.5)
    registry = ModelRegistry(tmp_path / "models", key=b"k" * 32)
    first = segment_customers(frame, settings, registry)
    reused = segment_customers(frame.assign(f1=frame["f1"] + 0.01), settings, registry)
    assert not reused.trained and reused.version == first.version
    assert reused.reason == "reused latest model" and reused.drift < 0.5
    moved = frame.assign(f1=frame["f1"] + 3 * frame["f1"].std(ddof=0))
    drifted = segment_customers(moved, settings, registry)
    assert drifted.trained and drifted.reason.startswith("drift") and "f1" in drifted.reason
    assert drifted.drift == pytest.approx(3.0, rel=1e-6)  # three training standard deviations
    assert len(registry.list()) == 2


def test_more_segments_keep_the_old_ids_and_add_new_ones(tmp_path):
    frame, labels = blobs(3, per=60, seed=4)
    registry = ModelRegistry(tmp_path / "models", key=b"k" * 32)
    first = segment_customers(frame, SegmentationSettings(k="3", features=("f1", "f2", "f3")),
                              registry).assignments
    changed = segment_customers(frame, SegmentationSettings(k="4", features=("f1", "f2", "f3")),
                                registry)
    assert changed.trained and changed.reason == "settings or feature set changed"
    after = changed.assignments
    assert set(after["segment_id"]) == {0, 1, 2, 3}  # three matched ids and one new id, 3
    # one planted group is split in two; the other two keep their customers and their ids
    kept = [g for g in range(3) if after["segment_id"][labels == g].nunique() == 1]
    assert len(kept) == 2
    for g in kept:
        assert (after["segment_id"][labels == g] == first["segment_id"][labels == g]).all()


def test_invalid_k_is_rejected():
    with pytest.raises(ValueError, match="integer >= 2 or 'auto'"):
        SegmentationSettings(k="many")
    with pytest.raises(ValueError, match="at least 2"):
        SegmentationSettings(k="1")
