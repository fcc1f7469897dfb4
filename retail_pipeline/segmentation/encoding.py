"""The matrix K-Means sees: every feature on a comparable scale, fitted once, stored with the model.

- Numeric features: skewed amounts (``LOG_FEATURES``: frequency, spend, basket, recency,
  the customer's stated spending and visits, a profile's men-per-woman ratio) go through
  ``log1p`` first; missing values
  take the training median; then each column is standardised (z-score with the training
  mean and standard deviation; a constant column becomes 0).
- Ordinal features (``ORDINALS``, for example ``income_bracket``: low < middle < high, and
  the business profiles' ``urban_rural_classification`` rural < suburban < urban,
  ``customer_age_class`` child < teenager < youth < adult < senior,
  ``customer_income_bracket`` low < medium < high, ``customer_education_level``
  low < mid < high) are encoded as their rank in the natural order (0, 1, 2, ...), then
  standardised like numbers; an unknown value counts as missing (training median).
- Categorical features (gender, city): one indicator per level (the ``max_levels`` most
  common, the rest ``other``, missing ``unknown``); multi-valued ones (preferred categories
  separated by ``;``): one indicator per value. Indicators are centred on their training
  share and the block is scaled to a total variance of 1, so a categorical feature weighs
  as much as one numeric feature however many levels it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.contract.entities import (
    AGE_CLASSES,
    EDUCATION_LEVELS,
    INCOME_BRACKETS,
    URBAN_RURAL,
)

LOG_FEATURES = ("frequency", "monetary", "gross_spend", "avg_basket", "recency_days",
                "avg_monthly_spending", "visits_per_month", "units", "male_female_ratio")
ORDINALS: dict[str, tuple[str, ...]] = {
    "income_bracket": ("low", "middle", "high"),
    # the business-customer profiles (contract entity ``customer_profiles``), natural order
    "urban_rural_classification": URBAN_RURAL,
    "customer_age_class": AGE_CLASSES,
    "customer_income_bracket": INCOME_BRACKETS,
    "customer_education_level": EDUCATION_LEVELS,
}
BEHAVIOUR = ("recency_days", "frequency", "monetary", "avg_basket", "tenure_days", "return_rate")
DEMOGRAPHIC_NUMBERS = ("age", "avg_monthly_spending", "visits_per_month")
CATEGORICAL = ("gender", "city")
MULTI_VALUED = ("preferred_categories",)


def default_features(frame: pd.DataFrame) -> list[str]:
    """Behaviour, category shares and demographics: the columns ``customer_features`` makes."""
    shares = sorted(c for c in frame.columns if c.startswith("share_"))
    wanted = [*BEHAVIOUR, *shares, *DEMOGRAPHIC_NUMBERS, *CATEGORICAL, *MULTI_VALUED]
    return [c for c in wanted if c in frame.columns]


@dataclass
class _Block:
    column: str
    levels: list[str]
    means: np.ndarray
    weight: float
    multi: bool


@dataclass
class FeatureEncoder:
    """Fit on the training customers; ``transform`` maps any frame with the same columns."""

    features: list[str]
    max_levels: int = 10
    numeric: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    medians: dict[str, float] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)

    # -- classification of columns -------------------------------------------------------
    @staticmethod
    def kind(frame: pd.DataFrame, column: str) -> str:
        if column in ORDINALS:
            return "ordinal"
        if column in MULTI_VALUED:
            return "multi"
        if pd.api.types.is_bool_dtype(frame[column]) or not pd.api.types.is_numeric_dtype(
                frame[column]):
            return "categorical"
        return "numeric"

    # -- fit / transform ----------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise KeyError(f"feature column(s) {missing} are not in the customer features "
                           f"(available: {sorted(frame.columns)})")
        self.numeric, self.log, self.blocks = [], [], []
        for column in self.features:
            kind = self.kind(frame, column)
            if kind in ("numeric", "ordinal"):
                values = self._numeric(frame, column, kind)
                if kind == "numeric" and column in LOG_FEATURES:
                    self.log.append(column)
                    values = np.log1p(np.clip(values, 0, None))
                median = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
                values = np.where(np.isnan(values), median, values)
                std = float(values.std())
                self.numeric.append(column)
                self.medians[column], self.means[column] = median, float(values.mean())
                self.stds[column] = std if std > 1e-12 else 1.0
            else:
                self.blocks.append(self._fit_block(frame, column, multi=kind == "multi"))
        return self

    def _numeric(self, frame: pd.DataFrame, column: str, kind: str) -> np.ndarray:
        if kind == "ordinal":
            order = {v: i for i, v in enumerate(ORDINALS[column])}
            return frame[column].map(
                lambda v: order.get(str(v).strip().lower(), np.nan)).to_numpy("float64")
        return pd.to_numeric(frame[column], errors="coerce").to_numpy("float64")

    def _labels(self, frame: pd.DataFrame, column: str) -> pd.Series:
        series = frame[column]
        return series.astype("str").where(series.notna(), "unknown")

    def _indicators(self, frame: pd.DataFrame, column: str, levels: list[str],
                    multi: bool) -> np.ndarray:
        if multi:  # split each distinct text once (customers share a few hundred of them)
            codes, texts = pd.factorize(self._labels(frame, column))
            sets = [{t.strip() for t in text.split(";")} for text in texts]
            table = np.array([[lv in s for lv in levels] for s in sets], dtype="float64").reshape(
                len(texts), len(levels))
            return table[codes]
        labels = self._labels(frame, column)
        known = set(levels) - {"other"}
        labels = labels.where(labels.isin(known), "other")
        return np.column_stack([(labels == lv).to_numpy("float64") for lv in levels]) if levels \
            else np.zeros((len(frame), 0))

    def _fit_block(self, frame: pd.DataFrame, column: str, multi: bool) -> _Block:
        if multi:
            counts = self._labels(frame, column).str.split(";").explode().str.strip().value_counts()
        else:
            counts = self._labels(frame, column).value_counts()
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        levels = [str(k) for k, _ in ranked[: self.max_levels]]
        if not multi and len(ranked) > self.max_levels:
            levels.append("other")
        ind = self._indicators(frame, column, levels, multi)
        means = ind.mean(axis=0) if len(ind) else np.zeros(len(levels))
        total_variance = float((means * (1 - means)).sum())
        weight = 1.0 / np.sqrt(total_variance) if total_variance > 1e-12 else 0.0
        return _Block(column, levels, means, weight, multi)

    @property
    def columns(self) -> list[str]:
        """Names of the encoded columns, in matrix order."""
        return [*self.numeric, *(f"{b.column}={lv}" for b in self.blocks for lv in b.levels)]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise KeyError(f"feature column(s) {missing} the model was trained on are missing")
        parts = []
        for column in self.numeric:
            kind = "ordinal" if column in ORDINALS else "numeric"
            values = self._numeric(frame, column, kind)
            if column in self.log:
                values = np.log1p(np.clip(values, 0, None))
            values = np.where(np.isnan(values), self.medians[column], values)
            parts.append(((values - self.means[column]) / self.stds[column])[:, None])
        for block in self.blocks:
            ind = self._indicators(frame, block.column, block.levels, block.multi)
            parts.append((ind - block.means) * block.weight)
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))

    def to_original(self, encoded: np.ndarray) -> dict[str, np.ndarray]:
        """Encoded rows (centres) back in the features' units; indicators as shares."""
        encoded = np.atleast_2d(encoded)
        out: dict[str, np.ndarray] = {}
        for i, column in enumerate(self.numeric):
            values = encoded[:, i] * self.stds[column] + self.means[column]
            out[column] = np.expm1(values) if column in self.log else values
        offset = len(self.numeric)
        for block in self.blocks:
            for j, level in enumerate(block.levels):
                raw = encoded[:, offset + j]
                out[f"{block.column}={level}"] = (raw / block.weight + block.means[j]
                                                  if block.weight else np.full(len(raw),
                                                                               block.means[j]))
            offset += len(block.levels)
        return out
