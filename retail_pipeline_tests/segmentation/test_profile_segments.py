"""Business-customer profiles: upload checks, planted groups recovered, served tables."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import adjusted_rand_score

from retail_pipeline.defs.ingest import assets as ingest_assets
from retail_pipeline.defs.segmentation import profiles as profile_assets
from retail_pipeline.ingest.ingest import check_file, ingest_file
from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.segmentation.business import MODEL_NAME, segment_profiles_of_businesses
from retail_pipeline.segmentation.settings import SegmentationSettings
from retail_pipeline_tests import pipeline

COLUMNS = ["id", "company_name", "male_female_ratio", "city", "urban_rural_classification",
           "customer_age_class", "customer_income_bracket", "customer_education_level"]
# four kinds of retailer: (area, age class, income, education, city, men per woman)
GROUPS = [("urban", "adult", "high", "high", "Berlin", 1.0),
          ("rural", "senior", "low", "low", "Dorfen", 0.6),
          ("suburban", "youth", "medium", "mid", "Hamburg", 1.6),
          ("urban", "teenager", "low", "mid", "Munich", 1.0)]
ORDER = {"urban_rural_classification": ["rural", "suburban", "urban"],
         "customer_age_class": ["child", "teenager", "youth", "adult", "senior"],
         "customer_income_bracket": ["low", "medium", "high"],
         "customer_education_level": ["low", "mid", "high"]}


def planted_profiles(per_group=30, seed=1) -> pd.DataFrame:
    """Profiles of four planted groups; one row in ten has one trait swapped for another level."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, (area, age, income, education, city, ratio) in enumerate(GROUPS):
        for i in range(per_group):
            row = {"id": f"R{g}{i:02d}", "company_name": f"Retailer {g}-{i}",
                   "male_female_ratio": round(ratio * rng.lognormal(0, 0.08), 3), "city": city,
                   "urban_rural_classification": area, "customer_age_class": age,
                   "customer_income_bracket": income, "customer_education_level": education,
                   "group": g}
            if rng.random() < 0.1:  # noise: one ordinal trait at another level
                column = rng.choice(list(ORDER))
                row[column] = rng.choice(ORDER[column])
            rows.append(row)
    return pd.DataFrame(rows)


def test_planted_groups_are_recovered_with_auto_k(tmp_path):
    profiles = planted_profiles()
    settings = SegmentationSettings(k="auto", auto_max_k=8, n_init=5)
    result, table = segment_profiles_of_businesses(profiles[COLUMNS], settings,
                                                   ModelRegistry(tmp_path / "models"))
    assert result.model.k == len(GROUPS)
    labels = table.set_index("profile_id")["segment_id"].reindex(profiles["id"])
    assert adjusted_rand_score(profiles["group"], labels) >= 0.9


def _write(path, frame):
    frame.to_csv(path, index=False)
    return path


def test_a_missing_column_is_rejected_listing_every_missing_column(tmp_path):
    frame = planted_profiles(per_group=2)[COLUMNS].drop(
        columns=["customer_income_bracket", "customer_education_level"])
    result = check_file(_write(tmp_path / "profiles.csv", frame))
    assert not result.accepted
    columns = sorted(p.column for p in result.problems)
    assert columns == ["customer_education_level", "customer_income_bracket"]
    for problem in result.problems:
        assert problem.file == "profiles.csv" and "missing" in problem.rule
        assert problem.column in problem.rule


def test_an_unknown_category_is_rejected_with_row_and_value(tmp_path):
    frame = planted_profiles(per_group=2)[COLUMNS]
    frame.loc[3, "customer_age_class"] = "elder"  # not one of child .. senior
    frame.loc[5, "customer_income_bracket"] = "middle"  # the profiles' level is "medium"
    result = check_file(_write(tmp_path / "profiles.csv", frame))
    assert result.entity == "customer_profiles" and not result.accepted
    found = {(p.row, p.column, p.value) for p in result.problems}
    # file rows count the header as row 1: frame row i is file row i + 2
    assert found == {(5, "customer_age_class", "elder"), (7, "customer_income_bracket", "middle")}
    by_column = {p.column: p for p in result.problems}
    assert "senior" in by_column["customer_age_class"].rule  # the rule names the allowed levels
    assert str(by_column["customer_age_class"]).startswith("profiles.csv, row 5")


def test_ingest_quarantines_a_bad_profile_file_and_keeps_the_table_empty(layout):
    frame = planted_profiles(per_group=2)[COLUMNS]
    frame.loc[0, "urban_rural_classification"] = "metropolitan"
    result = ingest_file(_write(layout.incoming / "profiles.csv", frame), layout)
    assert not result.accepted and result.quarantine_path is not None
    assert [(p.row, p.column, p.value) for p in result.problems] == [
        (2, "urban_rural_classification", "metropolitan")]
    assert not layout.store.joinpath("customer_profiles.parquet").exists()


@pytest.fixture
def warehouse_url(tmp_path):
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def _read(url, table):
    engine = sa.create_engine(url)
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


def _materialize(layout, url, instance=None):
    assets = [a for a in dg.load_assets_from_modules([ingest_assets, profile_assets])
              if isinstance(a, dg.AssetsDefinition)]
    checks = dg.load_asset_checks_from_modules([profile_assets])
    selection = dg.AssetSelection.assets("raw_customer_profiles", "profile_segments",
                                         "profile_segment_profiles")
    config = {"ops": {"profile_segments": {"config": {"k": "auto", "auto_max_k": 8, "n_init": 5}}}}
    return dg.materialize([*assets, *checks], selection=selection, instance=instance,
                          resources=pipeline.test_resources(layout, url), run_config=config)


def test_an_uploaded_profile_file_becomes_served_segment_tables(layout, warehouse_url):
    planted = planted_profiles()
    upload = planted[COLUMNS].copy()
    upload.loc[0, "id"] = None  # an empty id becomes the company name
    upload.loc[1, ["id", "company_name"]] = None  # ... or "<file>:row<n>" without a name
    upload.loc[2, "urban_rural_classification"] = "Urban"  # case does not matter
    accepted = ingest_file(_write(layout.incoming / "retailers.csv", upload), layout)
    assert accepted.accepted, accepted.summary
    result = _materialize(layout, warehouse_url)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())

    segments = _read(warehouse_url, "profile_segments")
    expected_ids = ["Retailer 0-0", "retailers.csv:row3", *planted["id"].iloc[2:]]
    assert sorted(segments["profile_id"]) == sorted(expected_ids)
    assert len(segments) == len(planted) and segments["profile_id"].is_unique
    labels = segments.set_index("profile_id")["segment_id"].reindex(expected_ids)
    assert adjusted_rand_score(planted["group"], labels.to_numpy()) >= 0.9
    version = ModelRegistry(layout.models).latest(MODEL_NAME).version
    assert set(segments["model_version"]) == {version}

    profiles = _read(warehouse_url, "profile_segment_profiles")
    k = segments["segment_id"].nunique()
    overview = profiles.drop_duplicates("segment_id")
    assert len(overview) == k == len(GROUPS) and overview["size"].sum() == len(planted)
    # each segment's mean ordinal rank, computed here from the upload and the natural order
    frame = upload.assign(profile_id=expected_ids).merge(segments, on="profile_id")
    for column, levels in ORDER.items():
        rank = frame[column].str.lower().map({v: i for i, v in enumerate(levels)})
        means = rank.groupby(frame["segment_id"]).mean()
        served = profiles[profiles["feature"] == column].set_index("segment_id")["mean"]
        pd.testing.assert_series_equal(served.sort_index(), means.sort_index(),
                                       check_names=False, check_index_type=False)
    # the segment holding the rural retailers is named for them in plain words
    rural = frame.loc[frame["profile_id"] == "R110", "segment_id"].iloc[0]
    name = overview.set_index("segment_id").loc[rural, "segment_name"]
    assert name.startswith("Rural retailers: senior shoppers, low income, low education")
    assert "mostly Dorfen" in name and "female-leaning" in name
    assert _read(warehouse_url, "profile_segments_history")["run_id"].nunique() == 1
    assert _read(warehouse_url, "profile_segment_profiles_history")["run_id"].nunique() == 1


def test_no_profiles_uploaded_gives_empty_tables_not_a_failed_refresh(layout, warehouse_url):
    result = _materialize(layout, warehouse_url)
    assert result.success
    assert _read(warehouse_url, "profile_segments").empty
    assert _read(warehouse_url, "profile_segment_profiles").empty
    meta = result.asset_materializations_for_node("profile_segments")[0].metadata
    assert meta["status"].text == "skipped: no customer profiles uploaded"
