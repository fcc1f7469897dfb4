"""Business-customer profile segments: the uploaded retailer profiles clustered like shoppers.

The computation lives in ``retail_pipeline.segmentation.business``; these assets wire it to
``raw_customer_profiles``, the model registry (``profile_segments``) and the warehouse.
When no profile was uploaded, ``raw_customer_profiles`` is empty (like every optional
upload) and both assets serve empty tables with a status instead of failing the refresh.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.defs.helpers import (
    ERROR,
    TABLE_KINDS,
    check_result,
    config_from_settings,
    serve,
    settings_from_config,
)
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.defs.segmentation.assets import serve_profiles
from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.platform.warehouse import History
from retail_pipeline.segmentation.settings import NotEnoughData, SegmentationSettings

GROUP = "segmentation"


ProfileSegmentsConfig = config_from_settings(
    "ProfileSegmentsConfig", SegmentationSettings,
    "Number of profile segments (or `auto`), seed, reuse and drift of their K-Means model.",
    exclude=("k", "features"),
    k=(str, Field(default="auto", description="Number of segments: an integer >= 2, or `auto` "
                                              "(best silhouette over `auto_min_k`..`auto_max_k` "
                                              "among admissible solutions).")),
    features=(list[str], Field(default=[], description="Profile columns to cluster on (empty: "
                                                       "all six profile features).")),
    force_retrain=(bool, Field(default=False, description="Refit K-Means even when the latest "
                                                          "registered model is still valid.")),
    history_runs=(int, Field(default=12, description="Runs of profile assignments that "
                                                     "`profile_segments_history` keeps.")))


class ProfileTablesConfig(dg.Config):
    """How much profile-segment history the warehouse keeps."""

    history_runs: int = Field(default=365, description="Runs of profile segment descriptions "
                                                       "that `profile_segment_profiles_history` "
                                                       "keeps.")


@dg.asset(group_name=GROUP, kinds={"scikit-learn", "pandas", "sql"},
          description="Each uploaded business-customer profile's K-Means segment (profile_id, "
                      "company_name, segment_id, distance to the centre, 2-D projection, model "
                      "version), clustered on the men-per-woman ratio, city and the four ordinal "
                      "profile columns (encoded in their natural order). The model lives in the "
                      "model registry (`profile_segments`), reused until retraining is forced, "
                      "the settings change or the data drifts; ids keep their meaning across "
                      "retrains. Warehouse table `profile_segments`, every run also in "
                      "`profile_segments_history`. Empty until a profile file is uploaded.")
def profile_segments(context: dg.AssetExecutionContext, config: ProfileSegmentsConfig,
                     raw_customer_profiles: pd.DataFrame, data_dir: DataDirResource,
                     warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.segmentation.business import (
        SEGMENT_COLUMNS,
        segment_profiles_of_businesses,
    )

    settings = settings_from_config(config, SegmentationSettings, k=config.k,
                                    features=tuple(config.features))
    registry = ModelRegistry(data_dir.layout.models)
    history = History(keep_runs=config.history_runs, index_columns=("profile_id", "segment_id"))
    try:
        result, table = segment_profiles_of_businesses(raw_customer_profiles, settings, registry,
                                                       force_retrain=config.force_retrain)
    except NotEnoughData as exc:  # nothing uploaded (yet): empty table, the refresh goes on
        context.log.warning(f"profile segmentation skipped: {exc}")
        empty = pd.DataFrame({c: pd.Series(dtype="int64" if c == "segment_id" else (
            "float64" if c in ("distance_to_centre", "pc1", "pc2") else "str"))
            for c in SEGMENT_COLUMNS})
        return serve(context, warehouse, empty, "profile_segments", status=f"skipped: {exc}")
    model = result.model
    context.log.info(f"profile_segments: {result.reason} (version {result.version})")
    sizes = table["segment_id"].value_counts().sort_index()
    return serve(context, warehouse, table, "profile_segments", history=history,
                 model_version=result.version, trained=result.trained, reason=result.reason,
                 k=model.k, inertia=model.inertia, silhouette=model.silhouette,
                 drift=float(min(result.drift, 1e9)), drift_feature=result.drift_feature,
                 **{f"segment_{int(s)}_profiles": int(n) for s, n in sizes.items()})


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Per profile segment: size, share, each profile feature's mean, median and "
                      "z-score against all profiles (ordinals as their rank: rural 0 < suburban 1 "
                      "< urban 2, and so on), the model's centre, a plain-language name (for "
                      "example \"Urban retailers: adult shoppers, high income, high education, "
                      "mostly Berlin\") and description, k, inertia and silhouette. One row per "
                      "segment x feature. Warehouse table `profile_segment_profiles`, every run "
                      "also in `profile_segment_profiles_history`.")
def profile_segment_profiles(context: dg.AssetExecutionContext, config: ProfileTablesConfig,
                             raw_customer_profiles: pd.DataFrame, profile_segments: pd.DataFrame,
                             data_dir: DataDirResource,
                             warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.segmentation.business import profile_segment_table

    return serve_profiles(context, warehouse, data_dir, "profile_segment_profiles", profile_segments,
                          config.history_runs, lambda model, version: profile_segment_table(
                              raw_customer_profiles, profile_segments, model, version),
                          empty_status="no profile segments yet")


@dg.asset_check(asset=profile_segments, blocking=True,
                additional_ins={"raw_customer_profiles": dg.AssetIn()},
                description="Every uploaded profile is in exactly one segment.")
def every_profile_in_one_segment(profile_segments: pd.DataFrame,
                                 raw_customer_profiles: pd.DataFrame) -> dg.AssetCheckResult:
    if profile_segments.empty:
        return dg.AssetCheckResult(passed=True, metadata={
            "status": "profile segmentation skipped", "profiles": len(raw_customer_profiles)})
    ids = raw_customer_profiles["id"].astype("str")
    missing = pd.DataFrame({"profile_id": ids[~ids.isin(profile_segments["profile_id"])]})
    duplicated = profile_segments.loc[profile_segments["profile_id"].duplicated(keep=False),
                                      ["profile_id"]]
    return check_result(pd.concat([missing, duplicated], ignore_index=True), ERROR,
                        missing=len(missing), duplicated=len(duplicated))
