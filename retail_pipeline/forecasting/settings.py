"""The forecasting knobs, in a module light enough to import when the code location loads.

``ForecastSettings`` is the single definition: the launchpad's ``ForecastConfig`` is
generated from its documented fields (``metadata["doc"]``), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODEL_NAMES = ("seasonal_naive", "prophet", "random_forest", "global_hgb")

def _doc(default, doc: str):
    """A settings field whose ``doc`` becomes the launchpad description of its config knob."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class ForecastSettings:
    """Every knob of the forecasting step; ``ForecastConfig`` in the UI is generated from it."""

    horizon: int = _doc(30, "Days to forecast after the last day with sales.")
    n_folds: int = _doc(3, "Rolling-origin backtest folds that score every candidate model.")
    fold_step: int | None = _doc(None, "Days between backtest origins (empty: the horizon).")
    models: tuple[str, ...] = MODEL_NAMES
    prophet_max_series: int = _doc(20, "Prophet is a candidate only at levels with at most this "
                                       "many series (one optimisation per series); 0 disables it.")
    forest_max_series: int = _doc(100, "The Random Forest is a candidate only at levels with at "
                                       "most this many series; 0 disables it.")
    forest_max_train_rows: int = _doc(20_000, "Training rows sampled for the Random Forest.")
    forest_trees: int = _doc(40, "Trees in the Random Forest candidate.")
    forest_max_depth: int | None = _doc(12, "Depth limit of the forest's trees (empty: none).")
    train_days: int = _doc(730, "Days of history the tree models train on.")
    interval: float = _doc(0.8, "Coverage of the prediction interval (0.8 = 80%).")
    n_jobs: int = _doc(2, "Threads for backtest tasks and final fits; processes for Prophet.")
    speculative_final_fit: bool = _doc(
        True, "Fit every candidate's final model while the backtest runs (on cores it leaves "
              "idle) instead of after the choice; only the champion is kept.")

    def __post_init__(self):
        unknown = set(self.models) - set(MODEL_NAMES)
        if unknown:
            raise ValueError(f"unknown model(s) {sorted(unknown)}; known: {MODEL_NAMES}")
        if self.horizon < 1 or self.n_folds < 1:
            raise ValueError("horizon and n_folds must be at least 1")


