"""The segmentation and customer-value knobs, light enough to import when the code location loads.

``SegmentationSettings`` and ``ValueSettings`` are the single definitions: the launchpad
configs are generated from their documented fields (``metadata["doc"]``).
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_pipeline.platform.knobs import documented as _doc


@dataclass(frozen=True)
class FeatureSettings:
    """What ``customer_features`` computes."""

    top_categories: int = _doc(5, "Spend share columns (`share_<category>`) for this many of the "
                                  "best-selling categories; the rest is `share_other`.")
    extra_columns: tuple[str, ...] = _doc((), "Further columns of the customers table to carry "
                                              "as features (for example an uploaded extra column).")


@dataclass(frozen=True)
class SegmentationSettings:
    """How ``customer_segments`` clusters customers."""

    k: str = _doc("5", "Number of segments: an integer >= 2, or `auto` (best silhouette over "
                       "`auto_min_k`..`auto_max_k` among solutions whose smallest segment holds "
                       "at least `min_segment_share` of the customers).")
    auto_min_k: int = _doc(2, "Smallest k tried by `auto`.")
    auto_max_k: int = _doc(10, "Largest k tried by `auto`.")
    min_segment_share: float = _doc(0.02, "`auto` rejects a k whose smallest segment holds fewer "
                                          "than this share of the customers.")
    seed: int = _doc(42, "Seed of K-Means (and of the silhouette sample): same data, same segments.")
    n_init: int = _doc(10, "K-Means restarts per k; the lowest inertia wins.")
    features: tuple[str, ...] = _doc((), "Feature columns to cluster on (empty: the default set, "
                                         "behaviour plus demographics).")
    drift_threshold: float = _doc(0.5, "Retrain when a clustered feature's mean has moved by more "
                                       "than this many training standard deviations.")
    silhouette_sample: int = _doc(4000, "Customers sampled to compute a silhouette (0: all).")
    threads: int = _doc(1, "OpenMP threads for K-Means and the silhouette. One is fastest for "
                           "thousands of customers and leaves the other core to parallel runs; "
                           "spinning threads on a busy 2-core machine made it 10-30x slower.")

    def __post_init__(self):
        if self.k != "auto":
            try:
                k = int(self.k)
            except ValueError as exc:
                raise ValueError(f"k must be an integer >= 2 or 'auto', got {self.k!r}") from exc
            if k < 2:
                raise ValueError(f"k must be at least 2, got {k}")
        if not 2 <= self.auto_min_k <= self.auto_max_k:
            raise ValueError("auto_min_k must be >= 2 and <= auto_max_k")
        if not 0 <= self.min_segment_share < 0.5:
            raise ValueError("min_segment_share must be in [0, 0.5)")

    @property
    def fixed_k(self) -> int | None:
        return None if self.k == "auto" else int(self.k)


@dataclass(frozen=True)
class ValueSettings:
    """How ``customer_value`` fits BG/NBD and Gamma-Gamma and validates them."""

    holdout_days: int = _doc(90, "Days at the end of the data held out to validate the models "
                                 "(fit on the rest, predict the holdout, compare).")
    interval: float = _doc(0.8, "Coverage of the intervals on expected purchases, P(alive) and "
                                "expected spend (parameter uncertainty).")
    interval_draws: int = _doc(200, "Parameter draws from the estimates' asymptotic normal "
                                    "distribution used for the intervals.")
    seed: int = _doc(42, "Seed of the parameter draws.")


class NotEnoughData(ValueError):
    """Too few customers or purchases for a step: the asset reports it and serves empty tables."""
