"""What each segment is: sizes, feature statistics, centre, and a generated name and description.

``segment_profiles`` is long: one row per segment x profiled feature, with the segment's
size and share, the feature's mean and median in the segment, its overall mean, the
z-score ``(segment mean - overall mean) / overall standard deviation``, and the model's
centre in the feature's own units (indicator features such as ``city=Berlin`` are shares).

Names are built from the most distinctive features, in plain words::

    <activity> <spend>[, mostly <city>][, <age band>]      e.g. "Frequent big spenders, mostly Berlin, 35-44"

- activity from the frequency z-score (> +0.5 "Frequent", < -0.5 "Occasional", else
  "Regular"), preceded by "Lapsed" when the recency z-score is above +0.8;
- spend from the net-spend z-score (> +0.5 "big spenders", < -0.5 "light spenders", else
  "mid spenders");
- "mostly <city>" when at least 40% of the segment lives in one city and that is at least
  1.5 times the city's overall share;
- the age band (18-24, 25-34, 35-44, 45-54, 55-64, 65+) of the segment's median age.

Two segments with the same name are told apart by their most over-represented category
share, then by id. The description lists the segment's size and its four features with
the largest absolute z-scores, each against the overall value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_pipeline.segmentation.clustering import SegmentModel

LABELS = {
    "recency_days": "days since last purchase", "frequency": "purchase days",
    "monetary": "net spend", "avg_basket": "spend per purchase day",
    "tenure_days": "days since first purchase", "return_rate": "return rate",
    "age": "age", "avg_monthly_spending": "stated monthly spending",
    "visits_per_month": "stated visits per month", "gross_spend": "gross spend",
    # business-customer profiles: ordinal codes in their natural order
    "male_female_ratio": "men per woman",
    "urban_rural_classification": "area (0 rural, 1 suburban, 2 urban)",
    "customer_age_class": "age class (0 child .. 4 senior)",
    "customer_income_bracket": "income bracket (0 low, 1 medium, 2 high)",
    "customer_education_level": "education (0 low, 1 mid, 2 high)",
}
PROFILE_COLUMNS = ["segment_id", "segment_name", "description", "size", "share", "feature",
                   "mean", "median", "overall_mean", "z_score", "centre", "k", "inertia",
                   "silhouette", "model_version"]


def _label(feature: str) -> str:
    if feature.startswith("share_"):
        return f"share of spend on {feature.removeprefix('share_').replace('_', ' ')}"
    return LABELS.get(feature, feature.replace("_", " "))


def _profiled_values(features: pd.DataFrame, model: SegmentModel) -> pd.DataFrame:
    """The features in their own units, indicators as 0/1, in the encoder's column order."""
    enc = model.encoder
    values = {}
    for column in enc.numeric:
        values[column] = enc._numeric(features, column, enc.kind(features, column))
    for block in enc.blocks:
        ind = enc._indicators(features, block.column, block.levels, block.multi)
        for j, level in enumerate(block.levels):
            values[f"{block.column}={level}"] = ind[:, j]
    return pd.DataFrame(values, index=features.index)


def age_band(age: float) -> str | None:
    if not np.isfinite(age):
        return None
    for upper, band in ((24, "18-24"), (34, "25-34"), (44, "35-44"), (54, "45-54"),
                        (64, "55-64")):
        if age <= upper:
            return band
    return "65+"


def segment_profiles(features: pd.DataFrame, assignments: pd.DataFrame, model: SegmentModel,
                     version: str, namer=None) -> pd.DataFrame:
    """One row per segment x feature (see the module docstring).

    ``namer(mean, z, overall_mean) -> str`` names a segment from its feature means, z-scores
    and the overall means (default: the customer namer ``_name`` described above).
    """
    merged = features.merge(assignments[["customer_id", "segment_id"]], on="customer_id",
                            how="inner", validate="one_to_one")
    values = _profiled_values(merged, model)
    overall_mean = values.mean()
    overall_std = values.std(ddof=0).replace(0, np.nan)
    centres = model.encoder.to_original(model.centres)
    n = len(merged)
    rows, summaries = [], {}
    for position, segment in enumerate(model.segment_ids):
        members = (merged["segment_id"] == segment).to_numpy()
        part = values[members]
        mean, median = part.mean(), part.median()
        z = ((mean - overall_mean) / overall_std).fillna(0.0)
        summaries[int(segment)] = (int(members.sum()), mean, z)
        for feature in values.columns:
            rows.append({"segment_id": int(segment), "size": int(members.sum()),
                         "share": members.sum() / n if n else 0.0, "feature": feature,
                         "mean": mean[feature], "median": median[feature],
                         "overall_mean": overall_mean[feature], "z_score": z[feature],
                         "centre": float(centres[feature][position])})
    names = _names(summaries, overall_mean, model, namer or _name)
    out = pd.DataFrame(rows)
    out["segment_name"] = out["segment_id"].map(lambda s: names[s][0])
    out["description"] = out["segment_id"].map(lambda s: names[s][1])
    out["k"], out["inertia"], out["silhouette"] = model.k, model.inertia, model.silhouette
    out["model_version"] = version
    return out.sort_values(["segment_id", "feature"], ignore_index=True)[PROFILE_COLUMNS]


def _names(summaries: dict, overall_mean: pd.Series, model: SegmentModel,
           namer) -> dict[int, tuple]:
    total = sum(size for size, _, _ in summaries.values())
    base, out = {}, {}
    for segment, (size, mean, z) in summaries.items():
        base[segment] = namer(mean, z, overall_mean)
        out[segment] = (base[segment], _description(size, total, mean, z, overall_mean))
    counts = pd.Series(base).value_counts()
    for segment, name in base.items():
        if counts[name] > 1:
            shares = summaries[segment][2][[c for c in summaries[segment][2].index
                                            if c.startswith("share_")]]
            extra = (f" ({_label(shares.idxmax()).removeprefix('share of spend on ')})"
                     if len(shares) and shares.max() > 0 else "")
            out[segment] = (f"{name}{extra}", out[segment][1])
    final = pd.Series({s: v[0] for s, v in out.items()})
    for segment, name in final.items():
        if (final == name).sum() > 1:
            out[segment] = (f"{name} #{segment}", out[segment][1])
    return out


def _name(mean: pd.Series, z: pd.Series, overall: pd.Series) -> str:
    zf, zm, zr = (float(z.get(c, 0.0)) for c in ("frequency", "monetary", "recency_days"))
    activity = "Frequent" if zf > 0.5 else ("Occasional" if zf < -0.5 else "Regular")
    if zr > 0.8:
        activity = f"Lapsed {activity.lower()}"
    spend = "big spenders" if zm > 0.5 else ("light spenders" if zm < -0.5 else "mid spenders")
    parts = [f"{activity} {spend}"]
    cities = [c for c in mean.index if c.startswith("city=") and c not in ("city=unknown",
                                                                           "city=other")]
    if cities:
        top = max(cities, key=lambda c: (mean[c], c))
        if mean[top] >= 0.4 and mean[top] >= 1.5 * overall[top]:
            parts.append(f"mostly {top.removeprefix('city=')}")
    if "age" in mean.index:
        band = age_band(float(mean["age"]))
        if band:
            parts.append(band)
    return ", ".join(parts)


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "-"
    if abs(value) < 1:
        return f"{value:.2f}"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def _description(size: int, total: int, mean: pd.Series, z: pd.Series,
                 overall: pd.Series) -> str:
    top = z.abs().sort_values(ascending=False, kind="stable").index[:4]
    facts = []
    for feature in top:
        if "=" in feature:
            column, level = feature.split("=", 1)
            facts.append(f"{mean[feature]:.0%} {column.replace('_', ' ')} {level} "
                         f"(all: {overall[feature]:.0%})")
        else:
            facts.append(f"{_label(feature)} {_fmt(mean[feature])} "
                         f"(all: {_fmt(overall[feature])})")
    share = size / total if total else 0.0
    return f"{size} customers ({share:.0%}); " + "; ".join(facts) + "."


def segment_overview(profiles: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: id, name, size, share, description (for metadata and tables)."""
    return (profiles.drop_duplicates("segment_id")[["segment_id", "segment_name", "size",
                                                     "share", "description"]]
            .reset_index(drop=True))
