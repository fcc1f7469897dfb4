"""Segmentation assets: customer features, RFM, K-Means segments, profiles, value, charts.

The computations live in ``retail_pipeline.segmentation`` (plain pandas / scipy /
scikit-learn); these assets wire them to ``sales_features`` and ``raw_customers``, the
model registry, the warehouse and the chart folder. Modules that pull in scikit-learn,
scipy or seaborn are imported inside the assets that use them, so loading the code
location stays cheap.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from retail_pipeline.defs.helpers import (
    ERROR,
    TABLE_KINDS,
    WARN,
    chart_asset,
    check_result,
    config_from_settings,
    serve,
    settings_from_config,
    table_metadata,
)
from retail_pipeline.defs.io_manager import reads
from retail_pipeline.defs.resources import DataDirResource, WarehouseResource
from retail_pipeline.platform.registry import ModelRegistry
from retail_pipeline.platform.warehouse import History
from retail_pipeline.segmentation import features as customer_features_logic
from retail_pipeline.segmentation import value as value_logic
from retail_pipeline.segmentation.settings import (
    FeatureSettings,
    NotEnoughData,
    SegmentationSettings,
    ValueSettings,
)

GROUP = "segmentation"
MODEL_KINDS = {"scikit-learn", "pandas", "sql"}

FeaturesConfig = config_from_settings(
    "FeaturesConfig", FeatureSettings, "What the per-customer features include.",
    exclude=("extra_columns",),
    extra_columns=(list[str], Field(default=[], description="Further columns of the customers "
                                                            "table to carry as features.")))

SegmentsConfig = config_from_settings(
    "SegmentsConfig", SegmentationSettings,
    "Number of segments (or `auto`), seed, reuse and drift of the K-Means model.",
    exclude=("features",),
    features=(list[str], Field(default=[], description="Feature columns to cluster on (empty: "
                                                       "behaviour, category shares and "
                                                       "demographics).")),
    force_retrain=(bool, Field(default=False, description="Refit K-Means even when the latest "
                                                          "registered model is still valid.")),
    history_runs=(int, Field(default=12, description="Runs of customer assignments that "
                                                     "`customer_segments_history` keeps.")))

ValueConfig = config_from_settings(
    "ValueConfig", ValueSettings, "Holdout length and intervals of the BG/NBD and Gamma-Gamma "
                                  "customer-value models.")


class ProfilesConfig(dg.Config):
    """How much profile history the warehouse keeps."""

    history_runs: int = Field(default=365, description="Runs of segment profiles that "
                                                       "`segment_profiles_history` keeps (segment "
                                                       "sizes over time).")


def _sales_columns(columns: list[str]) -> dict[str, dg.AssetIn]:
    """Read only ``columns`` of ``sales_features`` (a few of its ~45 columns at 10M lines)."""
    return {"sales_features": reads(columns)}


@dg.asset(group_name=GROUP, kinds={"pandas"},
          ins=_sales_columns(customer_features_logic.INPUT_COLUMNS),
          description="One row per customer who bought: recency, frequency (purchase days), net "
                      "spend (returns and cancellations netted out; void lines count nowhere), "
                      "average basket, "
                      "tenure, return rate, spend share of the top categories, favourite shop and "
                      "city, and the customer's demographics (age, gender, city, preferred "
                      "categories, stated monthly spending and visits) plus configured extra "
                      "columns.")
def customer_features(config: FeaturesConfig, sales_features: pd.DataFrame,
                      raw_customers: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.segmentation.features import customer_features as build

    frame = build(sales_features, raw_customers, top_categories=config.top_categories,
                  extra_columns=tuple(config.extra_columns))
    as_of = str(frame["as_of"].iloc[0].date()) if len(frame) else "-"
    without = int((~raw_customers["customer_id"].astype("str").isin(
        frame["customer_id"])).sum()) if len(raw_customers) else 0
    return dg.Output(frame, metadata=table_metadata(frame, as_of=as_of,
                                                    customers_without_purchases=without))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="R, F and M scores 1-5 by quintile (ties broken by customer id), the "
                      "three-digit RFM code, the total and the named segment from the documented "
                      "R x F map (Champions, Loyal, Potential Loyalists, New, Promising, Need "
                      "Attention, About to Sleep, At Risk, Can't Lose, Hibernating). Warehouse "
                      "table `rfm_scores`.")
def rfm_scores(context: dg.AssetExecutionContext, customer_features: pd.DataFrame,
               warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.segmentation.rfm import rfm_scores as score
    from retail_pipeline.segmentation.rfm import segment_summary

    scores = score(customer_features)
    summary = segment_summary(scores)
    return serve(context, warehouse, scores, "rfm_scores",
                 segments=dg.MetadataValue.md(summary.round(3).to_markdown(index=False)
                                              if len(summary) else "_(no customers)_"))


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "customer_segments": dg.AssetOut(
            kinds=MODEL_KINDS,
            description="Each customer's K-Means segment (customer_id, segment_id, distance to the "
                        "centre, 2-D projection pc1/pc2, model version). The model lives in the "
                        "model registry (`customer_segments`) and is reused until retraining is "
                        "forced, the settings change or the data drifts; segment ids keep their "
                        "meaning across retrains (Hungarian matching of centres). Warehouse table "
                        "`customer_segments`, every run also in `customer_segments_history`."),
        "segment_k_selection": dg.AssetOut(
            kinds={"pandas"},
            description="Silhouette, inertia and smallest segment share of every k the last "
                        "training tried (`auto`: 2..10), which were admissible and which was "
                        "chosen."),
    },
)
def customer_segments(context: dg.AssetExecutionContext, config: SegmentsConfig,
                      customer_features: pd.DataFrame, data_dir: DataDirResource,
                      warehouse: WarehouseResource):
    from retail_pipeline.segmentation.clustering import segment_customers

    settings = settings_from_config(config, SegmentationSettings,
                                    features=tuple(config.features))
    registry = ModelRegistry(data_dir.layout.models)
    history = History(keep_runs=config.history_runs, index_columns=("customer_id", "segment_id"))
    try:
        result = segment_customers(customer_features, settings, registry,
                                   force_retrain=config.force_retrain)
    except NotEnoughData as exc:  # a new store: empty tables rather than invented segments
        context.log.warning(f"segmentation skipped: {exc}")
        empty = pd.DataFrame({"customer_id": pd.Series(dtype="str"),
                              "segment_id": pd.Series(dtype="int64"),
                              "distance_to_centre": pd.Series(dtype="float64"),
                              "pc1": pd.Series(dtype="float64"), "pc2": pd.Series(dtype="float64"),
                              "model_version": pd.Series(dtype="str")})
        yield serve(context, warehouse, empty, "customer_segments",
                    output_name="customer_segments", status=f"skipped: {exc}")
        selection = pd.DataFrame({"k": pd.Series(dtype="int64"), **{
            c: pd.Series(dtype="float64") for c in ("silhouette", "inertia", "smallest_share")},
            "admissible": pd.Series(dtype="bool"), "chosen": pd.Series(dtype="bool")})
        yield dg.Output(selection, output_name="segment_k_selection",
                        metadata=table_metadata(selection, status=f"skipped: {exc}"))
        return
    model = result.model
    context.log.info(f"customer_segments: {result.reason} (version {result.version})")
    sizes = result.assignments["segment_id"].value_counts().sort_index()
    yield serve(context, warehouse, result.assignments, "customer_segments",
                output_name="customer_segments", history=history,
                model_version=result.version, trained=result.trained,
                reason=result.reason, k=model.k, inertia=model.inertia,
                silhouette=model.silhouette, drift=float(min(result.drift, 1e9)),
                drift_feature=result.drift_feature,
                registry=dg.MetadataValue.path(str(registry.root)),
                **{f"segment_{int(s)}_customers": int(n) for s, n in sizes.items()})
    chosen = int(model.selection.loc[model.selection["chosen"], "k"].iloc[0])
    yield dg.Output(model.selection, output_name="segment_k_selection",
                    metadata=table_metadata(model.selection, chosen_k=chosen,
                                            model_version=result.version,
                                            **{f"silhouette_k{int(r.k)}": float(r.silhouette)
                                               for r in model.selection.itertuples()}))


@dg.asset(group_name=GROUP, kinds=TABLE_KINDS,
          description="Per segment: size, share, each feature's mean, median and z-score against "
                      "all customers, the model's centre in the feature's units, a generated "
                      "plain-language name and description (for example \"Frequent big spenders, "
                      "mostly Berlin, 35-44\"), and the run's k, inertia and silhouette. One row "
                      "per segment x feature. Warehouse table `segment_profiles`, every run also "
                      "in `segment_profiles_history` (segment sizes over time).")
def segment_profiles(context: dg.AssetExecutionContext, config: ProfilesConfig,
                     customer_features: pd.DataFrame, customer_segments: pd.DataFrame,
                     data_dir: DataDirResource,
                     warehouse: WarehouseResource) -> dg.Output[pd.DataFrame]:
    from retail_pipeline.segmentation.profiles import segment_profiles as profile

    return serve_profiles(context, warehouse, data_dir, "segment_profiles", customer_segments,
                          config.history_runs, lambda model, version: profile(
                              customer_features, customer_segments, model, version))


def serve_profiles(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   data_dir: DataDirResource, table: str, segments: pd.DataFrame, history_runs: int,
                   build, empty_status: str = "no segments yet") -> dg.Output[pd.DataFrame]:
    """Serve the profile table of ``segments`` (customers' or business profiles'): the model
    version the segments carry is loaded from the registry and ``build(model, version)`` makes
    the table; history per run; k, inertia, silhouette and a segment overview in metadata."""
    from retail_pipeline.segmentation.profiles import PROFILE_COLUMNS, segment_overview

    if segments.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in PROFILE_COLUMNS})
        return serve(context, warehouse, empty, table, status=empty_status)
    version = str(segments["model_version"].iloc[0])
    model = ModelRegistry(data_dir.layout.models).load(version)
    frame = build(model, version)
    overview = segment_overview(frame)
    return serve(context, warehouse, frame, table,
                 history=History(keep_runs=history_runs, index_columns=("segment_id", "feature")),
                 model_version=version, k=model.k, inertia=model.inertia,
                 silhouette=model.silhouette,
                 segments=dg.MetadataValue.md(overview.round(3).to_markdown(index=False)))


@dg.multi_asset(
    group_name=GROUP,
    ins=_sales_columns(value_logic.INPUT_COLUMNS),
    outs={
        "customer_value": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Per customer: repeat purchase days x, t_x, T, mean repeat spend, "
                        "P(alive), expected purchase days in the next 90 and 365 days, expected "
                        "spend per purchase and in 90 / 365 days, with intervals from parameter "
                        "uncertainty (draws from the estimates' asymptotic normal). BG/NBD and "
                        "Gamma-Gamma fitted by maximum likelihood. Warehouse table "
                        "`customer_value`."),
        "customer_value_holdout": dg.AssetOut(
            kinds=TABLE_KINDS,
            description="Validation: the models fitted without the last `holdout_days` predict "
                        "each customer's purchase days in them; mean actual, predicted and naive "
                        "(calibration repeat rate) per bucket of calibration repeat purchases, "
                        "with the per-customer MAEs. Warehouse table `customer_value_holdout`."),
    },
)
def customer_value(context: dg.AssetExecutionContext, config: ValueConfig,
                   sales_features: pd.DataFrame, warehouse: WarehouseResource):
    from retail_pipeline.segmentation.value import HOLDOUT_COLUMNS, VALUE_COLUMNS, value_tables

    try:
        result = value_tables(sales_features, settings_from_config(config, ValueSettings))
    except NotEnoughData as exc:
        context.log.warning(f"customer value skipped: {exc}")
        status = f"skipped: {exc}"
        value = pd.DataFrame({c: pd.Series(dtype="str" if c == "customer_id" else "float64")
                              for c in VALUE_COLUMNS})
        holdout = pd.DataFrame({c: pd.Series(dtype="float64") for c in HOLDOUT_COLUMNS})
        yield serve(context, warehouse, value, "customer_value", output_name="customer_value",
                    status=status)
        yield serve(context, warehouse, holdout, "customer_value_holdout",
                    output_name="customer_value_holdout", status=status)
        return
    model = result.model
    params = {**{f"bgnbd_{k}": v for k, v in model.bgnbd.as_dict().items()},
              **{f"gamma_gamma_{k}": v for k, v in model.gamma_gamma.as_dict().items()}}
    yield serve(context, warehouse, result.value, "customer_value", output_name="customer_value",
                status=result.status, fitted_until=str(model.end.date()),
                bgnbd_converged=model.bgnbd.converged,
                gamma_gamma_converged=model.gamma_gamma.converged,
                weakly_identified=", ".join(
                    [f"bgnbd {n}" for n in model.bgnbd.weakly_identified]
                    + [f"gamma_gamma {n}" for n in model.gamma_gamma.weakly_identified]) or "-",
                expected_spend_365d_total=float(result.value["spend_365d"].sum()), **params)
    extra = {}
    if result.validation is not None:
        extra = {"mae_model": result.validation.mae_model,
                 "mae_naive": result.validation.mae_naive,
                 "mae_improvement_vs_naive": result.validation.improvement}
    yield serve(context, warehouse, result.holdout, "customer_value_holdout",
                output_name="customer_value_holdout", status=result.status, **extra)


# -- checks -------------------------------------------------------------------------------
@dg.asset_check(asset=rfm_scores, blocking=True,
                description="One row per customer and every score between 1 and 5.")
def rfm_scores_are_valid(rfm_scores: pd.DataFrame) -> dg.AssetCheckResult:
    scores = rfm_scores[["r_score", "f_score", "m_score"]]
    bad = rfm_scores[~scores.isin([1, 2, 3, 4, 5]).all(axis=1)
                     | rfm_scores["customer_id"].duplicated(keep=False)]
    return check_result(bad, ERROR)


@dg.asset_check(asset="customer_segments", blocking=True,
                additional_ins={"customer_features": dg.AssetIn()},
                description="Every customer with features is in exactly one segment.")
def every_customer_in_one_segment(customer_segments: pd.DataFrame,
                                  customer_features: pd.DataFrame) -> dg.AssetCheckResult:
    if customer_segments.empty:  # segmentation was skipped (too few customers): nothing to check
        return dg.AssetCheckResult(passed=True, metadata={
            "status": "segmentation skipped", "customers_with_features": len(customer_features)})
    missing = customer_features.loc[~customer_features["customer_id"].isin(
        customer_segments["customer_id"]), ["customer_id"]]
    duplicated = customer_segments.loc[customer_segments["customer_id"].duplicated(keep=False),
                                       ["customer_id"]]
    return check_result(pd.concat([missing, duplicated], ignore_index=True), ERROR,
                        missing=len(missing), duplicated=len(duplicated))


@dg.asset_check(asset=segment_profiles,
                description="Segment shares add up to 1 and no segment is empty.")
def segment_shares_add_up(segment_profiles: pd.DataFrame) -> dg.AssetCheckResult:
    overview = segment_profiles.drop_duplicates("segment_id")
    total = float(overview["share"].sum()) if len(overview) else 1.0
    bad = overview[overview["size"] <= 0][["segment_id", "size"]] if len(overview) else overview
    if abs(total - 1.0) > 1e-6:
        bad = overview[["segment_id", "size", "share"]]
    return check_result(bad, ERROR, share_total=total)


@dg.asset_check(asset="customer_value",
                description="P(alive) in [0, 1], expectations non-negative, intervals contain "
                            "their estimate.")
def customer_value_is_consistent(customer_value: pd.DataFrame) -> dg.AssetCheckResult:
    v, tol = customer_value, 1e-6
    bad = v[(v["p_alive"] < 0) | (v["p_alive"] > 1) | (v["purchases_365d"] < 0)
            | (v["purchases_365d_lower"] > v["purchases_365d"] + tol)
            | (v["purchases_365d_upper"] < v["purchases_365d"] - tol)]
    return check_result(bad, WARN)


@dg.asset_check(asset="customer_value_holdout",
                description="On the holdout, the BG/NBD error per customer is not above the naive "
                            "forecast's (WARN: the model adds nothing on this data).")
def value_model_beats_naive(customer_value_holdout: pd.DataFrame) -> dg.AssetCheckResult:
    if customer_value_holdout.empty:
        return dg.AssetCheckResult(passed=True, severity=WARN,
                                   metadata={"status": "no holdout (too little history)"})
    row = customer_value_holdout.iloc[0]
    return dg.AssetCheckResult(passed=bool(row["mae_model"] <= row["mae_naive"]), severity=WARN,
                               metadata={"mae_model": float(row["mae_model"]),
                                         "mae_naive": float(row["mae_naive"])})


# -- charts -------------------------------------------------------------------------------
CHARTS = "retail_pipeline.segmentation.charts"

segment_map_chart = chart_asset(
    "segment_map_chart", group=GROUP, ins=["customer_segments", "segment_profiles"],
    draw=f"{CHARTS}:segment_map", file_name="segment_map.png",
    description="Customers on the first two principal components of the clustered features, "
                "coloured by segment, centres marked, segment names in the legend")
segment_profile_chart = chart_asset(
    "segment_profile_chart", group=GROUP, ins=["segment_profiles"],
    draw=f"{CHARTS}:profile_heatmap", file_name="segment_profiles.png",
    description="Heatmap of the z-scores of the most distinctive features by segment")
rfm_grid_chart = chart_asset(
    "rfm_grid_chart", group=GROUP, ins=["rfm_scores"], draw=f"{CHARTS}:rfm_grid",
    file_name="rfm_grid.png",
    description="Customers per recency score x frequency score cell with the cell's RFM segment")
segment_silhouette_chart = chart_asset(
    "segment_silhouette_chart", group=GROUP, ins=["segment_k_selection"],
    draw=f"{CHARTS}:silhouette_by_k", file_name="segment_silhouette.png",
    description="Silhouette of every k tried by `auto` (chosen and inadmissible k marked)")
customer_value_chart = chart_asset(
    "customer_value_chart", group=GROUP, ins=["customer_value"],
    draw=f"{CHARTS}:value_distribution", file_name="customer_value.png",
    description="Distribution of the predicted 365-day spend and of P(alive)")
customer_value_holdout_chart = chart_asset(
    "customer_value_holdout_chart", group=GROUP, ins=["customer_value_holdout"],
    draw=f"{CHARTS}:holdout_calibration", file_name="customer_value_holdout.png",
    description="Holdout calibration: mean actual, BG/NBD and naive purchase days per bucket of "
                "calibration repeat purchases")
