"""Segments of business customers (retailers a manufacturer supplies) from their uploaded profiles.

A customer-profile upload (contract entity ``customer_profiles``: ``male_female_ratio``,
``city``, ``urban_rural_classification``, ``customer_age_class``,
``customer_income_bracket``, ``customer_education_level``, optional ``id`` and
``company_name``) describes who shops at each retailer. The contract already rejects a
file that lacks a required column (listing them) or holds an unknown category value (row
and value). Here the validated profiles get their own segmentation with the same machinery
as the shoppers (``clustering``, ``profiles``), under their own registry name
``profile_segments``:

- encoding (``encoding.FeatureEncoder``): the ratio through ``log1p`` and a z-score, the
  city one-hot (block of total variance one), the four ordinals as their rank in the
  natural order (rural < suburban < urban; child < teenager < youth < adult < senior;
  low < medium < high; low < mid < high), then z-scored;
- K-Means with a fixed k or ``auto`` (silhouette), model reuse, drift and segment ids that
  keep their meaning across retrains (Hungarian matching), exactly as ``clustering``;
- per segment: size, share, feature means, medians, z-scores, centre, and a plain-language
  name from the segment's typical area, shopper age, income, education, city and gender
  balance, e.g. "Urban retailers: adult shoppers, high income, high education, mostly Berlin".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.contract import ContractError, Problem
from retail_pipeline.contract.entities import (
    AGE_CLASSES,
    EDUCATION_LEVELS,
    INCOME_BRACKETS,
    URBAN_RURAL,
)
from retail_pipeline.segmentation.clustering import SegmentationResult, segment_customers
from retail_pipeline.segmentation.settings import SegmentationSettings

MODEL_NAME = "profile_segments"
ORDINAL_LEVELS = {
    "urban_rural_classification": URBAN_RURAL,
    "customer_age_class": AGE_CLASSES,
    "customer_income_bracket": INCOME_BRACKETS,
    "customer_education_level": EDUCATION_LEVELS,
}
PROFILE_FEATURES = ("male_female_ratio", "city", *ORDINAL_LEVELS)
SEGMENT_COLUMNS = ["profile_id", "company_name", "segment_id", "distance_to_centre", "pc1", "pc2",
                   "model_version"]


def profile_frame(profiles: pd.DataFrame, file: str = "customer_profiles") -> pd.DataFrame:
    """The profiles as the segmentation sees them: ``customer_id`` (the profile id), the
    company name and the features, ordinals lower-case. Ids are unique (the contract key)."""
    missing = [c for c in ("id", *PROFILE_FEATURES) if c not in profiles.columns]
    if missing:
        raise ContractError([Problem(file=file, row=None, column=c, value=None,
                                     rule="required column is missing") for c in missing])
    out = pd.DataFrame({
        "customer_id": profiles["id"].astype("str").to_numpy(),
        "company_name": (profiles["company_name"].astype("object").where(
            profiles["company_name"].notna(), None).to_numpy()
            if "company_name" in profiles.columns else None),
        "male_female_ratio": pd.to_numeric(profiles["male_female_ratio"],
                                           errors="coerce").astype("float64").to_numpy(),
        "city": profiles["city"].astype("str").str.strip().to_numpy(),
    })
    for column in ORDINAL_LEVELS:
        out[column] = profiles[column].astype("str").str.strip().str.lower().to_numpy()
    return out.sort_values("customer_id", ignore_index=True)


def default_profile_features(frame: pd.DataFrame) -> list[str]:
    return [c for c in PROFILE_FEATURES if c in frame.columns]


def segment_profiles_of_businesses(profiles: pd.DataFrame, settings: SegmentationSettings,
                                   registry, *, force_retrain: bool = False
                                   ) -> tuple[SegmentationResult, pd.DataFrame]:
    """K-Means segments of the profiles; returns the result and the ``profile_segments`` table.

    Raises ``NotEnoughData`` when no profile was uploaded (or too few for the k asked).
    """
    frame = profile_frame(profiles)
    result = segment_customers(frame, settings, registry, force_retrain=force_retrain,
                               model_name=MODEL_NAME, default_columns=default_profile_features,
                               nothing="no customer profiles uploaded")
    table = result.assignments.rename(columns={"customer_id": "profile_id"}).merge(
        frame[["customer_id", "company_name"]].rename(columns={"customer_id": "profile_id"}),
        on="profile_id", how="left", validate="one_to_one")
    return result, table[SEGMENT_COLUMNS]


def profile_segment_table(profiles: pd.DataFrame, segments: pd.DataFrame, model,
                          version: str) -> pd.DataFrame:
    """One row per segment x feature with a plain-language name (see the module docstring)."""
    from retail_pipeline.segmentation.profiles import segment_profiles

    frame = profile_frame(profiles)
    assignments = segments.rename(columns={"profile_id": "customer_id"})
    return segment_profiles(frame, assignments, model, version, namer=profile_name)


def _level(column: str, code: float) -> str | None:
    levels = ORDINAL_LEVELS[column]
    if not np.isfinite(code):
        return None
    return levels[int(np.clip(np.rint(code), 0, len(levels) - 1))]


def profile_name(mean: pd.Series, z: pd.Series, overall: pd.Series) -> str:
    """``<Area> retailers: <age> shoppers, <income> income, <education> education`` plus
    ``mostly <city>`` (at least 40% of the segment, 1.5 times the overall share) and
    ``male-leaning`` / ``female-leaning`` (mean ratio above 1.25 / below 0.8 men per woman).
    Each ordinal is named by the level nearest to the segment's mean rank."""
    def level(column):
        return _level(column, float(mean[column])) if column in mean.index else None

    area, age = level("urban_rural_classification"), level("customer_age_class")
    income, education = level("customer_income_bracket"), level("customer_education_level")
    head = f"{area.capitalize()} retailers" if area else "Retailers"
    traits = []
    if age:
        traits.append(f"{age} shoppers")
    if income:
        traits.append(f"{income} income")
    if education:
        traits.append(f"{education} education")
    cities = [c for c in mean.index if c.startswith("city=") and c not in ("city=unknown",
                                                                           "city=other")]
    if cities:
        top = max(cities, key=lambda c: (mean[c], c))
        if mean[top] >= 0.4 and mean[top] >= 1.5 * overall[top]:
            traits.append(f"mostly {top.removeprefix('city=')}")
    if "male_female_ratio" in mean.index and np.isfinite(mean["male_female_ratio"]):
        ratio = float(mean["male_female_ratio"])
        if ratio > 1.25:
            traits.append("male-leaning")
        elif ratio < 0.8:
            traits.append("female-leaning")
    return f"{head}: {', '.join(traits)}" if traits else head
