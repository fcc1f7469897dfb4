"""K-Means segments that keep their meaning: fixed or automatic k, reuse, drift, stable ids.

Training. The customer features are encoded (``encoding.FeatureEncoder``) and clustered
with scikit-learn's K-Means (``n_init`` restarts, fixed seed: same data, same segments).
With ``k="auto"`` every k in ``auto_min_k..auto_max_k`` is fitted and scored by its
silhouette (on a seeded sample of at most ``silhouette_sample`` customers); a k whose
smallest segment holds less than ``min_segment_share`` of the customers is not admissible;
the admissible k with the best silhouette wins. Every k's score is kept in ``selection``.

Reuse. The model (encoder, centres, ids, 2-D projection, scores) is saved in the model
registry under ``customer_segments``. Later runs assign customers to the nearest centre of
the latest model, unless retraining is forced, the settings changed, or the data drifted:
drift is the largest absolute mean of an encoded feature over today's customers in the
model's own scale (0 at training time; 1 = one training standard deviation).

Stable ids. When a model is retrained and a previous one exists, today's customers are
assigned with *both*; the previous model's segments are located in the new feature space
as the mean of their members, and new clusters are matched to them by minimum total
centre distance (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``). A matched
cluster keeps the previous id, so "segment 2" stays the same kind of customer; a cluster
without a counterpart (k grew) gets a new id. On a first fit ids are 0..k-1 by decreasing
size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.segmentation.encoding import FeatureEncoder, default_features
from retail_pipeline.segmentation.settings import NotEnoughData, SegmentationSettings

MODEL_NAME = "customer_segments"


@dataclass
class SegmentModel:
    encoder: FeatureEncoder
    centres: np.ndarray
    """k x d centres in the encoded space; row i belongs to segment ``segment_ids[i]``."""
    segment_ids: np.ndarray
    pca_mean: np.ndarray
    pca_components: np.ndarray
    inertia: float
    silhouette: float
    selection: pd.DataFrame
    settings_key: dict
    training_means: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def k(self) -> int:
        return len(self.segment_ids)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.transform(frame)

    def assign(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Segment id of each customer (nearest centre) and the distance to it."""
        return self._nearest(self.encode(frame))

    def _nearest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d2 = ((x[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        row = d2.argmin(axis=1)
        return self.segment_ids[row], np.sqrt(d2[np.arange(len(x)), row])

    def project(self, x: np.ndarray) -> np.ndarray:
        return (x - self.pca_mean) @ self.pca_components.T

    def drift(self, frame: pd.DataFrame) -> tuple[float, str]:
        """Largest shift of an encoded feature's mean since training, and which feature."""
        x = self.encode(frame)
        if not len(x):
            return 0.0, "-"
        shift = np.abs(x.mean(axis=0) - self.training_means)
        i = int(shift.argmax())
        return float(shift[i]), self.encoder.columns[i]


@dataclass
class SegmentationResult:
    assignments: pd.DataFrame
    model: SegmentModel
    version: str
    trained: bool
    reason: str
    drift: float
    drift_feature: str


def settings_key(settings: SegmentationSettings, features: list[str]) -> dict:
    """What must match for a registered model to be reused."""
    return {"k": settings.k, "auto_min_k": settings.auto_min_k, "auto_max_k": settings.auto_max_k,
            "min_segment_share": settings.min_segment_share, "seed": settings.seed,
            "features": list(features)}


def _kmeans(x: np.ndarray, k: int, settings: SegmentationSettings):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=settings.n_init, random_state=settings.seed).fit(x)


def _silhouette(x: np.ndarray, labels: np.ndarray, settings: SegmentationSettings) -> float:
    from sklearn.metrics import silhouette_score

    if not 2 <= len(np.unique(labels)) < len(x):  # undefined with one row per cluster
        return float("nan")
    size = settings.silhouette_sample if 0 < settings.silhouette_sample < len(x) else None
    return float(silhouette_score(x, labels, sample_size=size, random_state=settings.seed))


def choose_k(x: np.ndarray, settings: SegmentationSettings):
    """The fitted K-Means for the configured k (or the best admissible k) and every k's score."""
    if settings.fixed_k is not None:
        candidates = [settings.fixed_k]
    else:
        candidates = list(range(settings.auto_min_k, settings.auto_max_k + 1))
    candidates = [k for k in candidates if k <= len(x)]
    if not candidates:
        raise NotEnoughData(f"cannot form {settings.k} segments from {len(x)} customers")
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    rows, fits = [], {}
    with threadpool_limits(settings.threads):
        for k in candidates:
            fit = _kmeans(x, k, settings)
            sizes = np.bincount(fit.labels_, minlength=k)
            rows.append({"k": k, "silhouette": _silhouette(x, fit.labels_, settings),
                         "inertia": float(fit.inertia_), "smallest_share": sizes.min() / len(x)})
            fits[k] = fit
    selection = pd.DataFrame(rows)
    selection["admissible"] = (selection["smallest_share"] >= settings.min_segment_share) | (
        settings.fixed_k is not None)
    pool = selection[selection["admissible"] & selection["silhouette"].notna()]
    if pool.empty:  # nothing admissible: say so rather than pick an unusable k quietly
        raise ValueError(
            f"no k in {candidates} gives segments of at least {settings.min_segment_share:.0%} "
            f"of {len(x)} customers; lower min_segment_share or choose k explicitly")
    best = int(pool.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]["k"])
    selection["chosen"] = selection["k"] == best
    return fits[best], selection


def _stable_ids(x: np.ndarray, centres: np.ndarray, labels: np.ndarray, previous_labels) -> np.ndarray:
    """Segment id for each new cluster: the previous id it matches, else a new one."""
    from scipy.optimize import linear_sum_assignment

    k = len(centres)
    sizes = np.bincount(labels, minlength=k)
    by_size = sorted(range(k), key=lambda i: (-sizes[i], *centres[i]))
    if previous_labels is None:
        ids = np.empty(k, dtype="int64")
        ids[by_size] = np.arange(k)
        return ids
    old_ids = np.unique(previous_labels)
    old_centres = np.vstack([x[previous_labels == o].mean(axis=0) for o in old_ids])
    cost = np.sqrt(((centres[:, None, :] - old_centres[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    ids = np.full(k, -1, dtype="int64")
    ids[rows] = old_ids[cols]
    fresh = int(old_ids.max()) + 1 if len(old_ids) else 0
    for i in by_size:
        if ids[i] < 0:
            ids[i], fresh = fresh, fresh + 1
    return ids


def train(features: pd.DataFrame, settings: SegmentationSettings,
          previous: SegmentModel | None = None, columns: list[str] | None = None) -> SegmentModel:
    """Fit the encoder, K-Means and the 2-D projection; align ids with ``previous``.

    ``columns``: the features to cluster on (default: the settings', else ``default_features``).
    """
    from sklearn.decomposition import PCA

    columns = columns or list(settings.features) or default_features(features)
    encoder = FeatureEncoder(columns).fit(features)
    x = encoder.transform(features)
    fit, selection = choose_k(x, settings)
    previous_labels = None
    if previous is not None:
        try:
            previous_labels, _ = previous.assign(features)
        except KeyError:  # the previous model used features today's data no longer has
            previous_labels = None
    ids = _stable_ids(x, fit.cluster_centers_, fit.labels_, previous_labels)
    pca = PCA(n_components=min(2, x.shape[1], len(x))).fit(x)
    chosen = selection[selection["chosen"]].iloc[0]
    return SegmentModel(
        encoder=encoder, centres=fit.cluster_centers_, segment_ids=ids,
        pca_mean=pca.mean_, pca_components=pca.components_, inertia=float(fit.inertia_),
        silhouette=float(chosen["silhouette"]), selection=selection,
        settings_key=settings_key(settings, columns), training_means=x.mean(axis=0))


def assignments_frame(features: pd.DataFrame, model: SegmentModel, version: str) -> pd.DataFrame:
    x = model.encode(features)
    ids, distance = model._nearest(x)
    xy = model.project(x)
    return pd.DataFrame({
        "customer_id": features["customer_id"].astype("str").to_numpy(),
        "segment_id": ids.astype("int64"),
        "distance_to_centre": distance,
        "pc1": xy[:, 0] if xy.shape[1] > 0 else 0.0,
        "pc2": xy[:, 1] if xy.shape[1] > 1 else 0.0,
        "model_version": version,
    })


def segment_customers(features: pd.DataFrame, settings: SegmentationSettings, registry, *,
                      force_retrain: bool = False, model_name: str = MODEL_NAME,
                      default_columns=default_features,
                      nothing: str = "no customers with purchases to segment") -> SegmentationResult:
    """Assign every customer with the latest registered model, retraining when due.

    The rows are identified by ``customer_id``. ``model_name`` (registry name),
    ``default_columns`` (features when the settings name none) and ``nothing`` (the message
    for an empty frame) let other populations, such as the business profiles, use the same
    machinery under their own registry name.
    """
    if features.empty:
        raise NotEnoughData(nothing)
    columns = list(settings.features) or default_columns(features)
    wanted = settings_key(settings, columns)
    latest = registry.latest(model_name)
    previous = registry.load(latest.version) if latest else None
    drift, drift_feature = 0.0, "-"
    if previous is None:
        reason = "first model"
    elif force_retrain:
        reason = "retraining forced"
    elif previous.settings_key != wanted:
        reason = "settings or feature set changed"
    else:
        try:
            drift, drift_feature = previous.drift(features)
        except KeyError:
            drift, drift_feature = float("inf"), "feature set changed"
        reason = (f"drift {drift:.2f} > {settings.drift_threshold:g} ({drift_feature})"
                  if drift > settings.drift_threshold else "")
    if reason:
        model = train(features, settings, previous, columns)
        record = registry.save(
            model_name, model, model_type="KMeans", features=model.encoder.columns,
            metrics={"silhouette": model.silhouette, "inertia": model.inertia, "k": model.k},
            params={**wanted, "chosen_k": model.k, "reason": reason,
                    "silhouette_by_k": {int(r.k): r.silhouette
                                        for r in model.selection.itertuples()},
                    "segment_ids": model.segment_ids.tolist()},
            data_fingerprint=_fingerprint(features, columns))
        version, trained = record.version, True
    else:
        model, version, trained, reason = previous, latest.version, False, "reused latest model"
    return SegmentationResult(assignments_frame(features, model, version), model, version,
                              trained, reason, drift, drift_feature)


def _fingerprint(features: pd.DataFrame, columns: list[str]) -> str:
    from retail_pipeline.platform.registry import fingerprint_frame

    return fingerprint_frame(features[["customer_id", *columns]].astype("str"))
