"""The forecasting knobs, in a module light enough to import when the code location loads.

``ForecastSettings`` is the single definition: the launchpad's ``ForecastConfig`` is
generated from its documented fields (``metadata["doc"]``), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_pipeline.platform.knobs import documented as _doc

MODEL_NAMES = ("seasonal_naive", "seasonal_profile", "prophet", "random_forest", "global_hgb",
               "croston", "sba", "tsb")
INTERMITTENT_MODELS = ("croston", "sba", "tsb")



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
    boost_max_train_rows: int | None = _doc(
        60_000, "Training rows sampled for the gradient boosting (empty: all); on the 500 "
                "store-item series 60k of 182k rows scored a backtest sMAPE of 11.93 against "
                "11.91 with 100k, in two thirds of the time.")
    train_days: int = _doc(365, "Days of target history the tree models train on (their "
                                "lag features still read further back).")
    interval: float = _doc(0.8, "Coverage of the prediction interval (0.8 = 80%).")
    n_jobs: int = _doc(2, "Threads for backtest tasks and final fits; processes for Prophet.")
    country: str = _doc("", "Country whose public holidays the models know (ISO code such as "
                            "DE or GB, or a name); empty: the most frequent value of the sales "
                            "data's `country` column, or `default_country` without one.")
    default_country: str = _doc("DE", "Holiday country when `country` is empty and the data "
                                      "has no `country` column (the sample shops are German).")
    events_path: str = _doc("", "CSV of user events (columns `date,name`: promotions, fairs) "
                                "that the models and Prophet treat like holidays; empty: none.")
    intermittent_share: float = _doc(0.5, "A series is intermittent when more than this share "
                                          "of its last year's days sold nothing; levels with "
                                          "such series also get Croston, SBA and TSB.")
    intermittent_seasonal: bool = _doc(
        True, "Croston, SBA and TSB smooth demand divided by the level's weekday x month shape "
              "and multiply it back on each forecast day, so their forecasts rise into a peak "
              "instead of staying flat (on the sample: SBA's backtest bias -9.8% -> -0.8%).")
    max_bias_pct: float = _doc(10.0, "A model whose backtest bias exceeds this % of demand is "
                                     "not champion while one within it is close in MASE.")
    bias_mase_tolerance: float = _doc(0.05, "How much higher (0.05 = 5%) the MASE of an "
                                            "unbiased model may be and still beat a biased one.")
    backtest_bias_correction: bool = _doc(
        True, "Scale the champion's forecast by actual / forecast units of its backtest "
              "(see `bias_correction_rule`; limited to 0.8..1.25).")
    bias_correction_rule: str = _doc(
        "latest", "`latest`: the ratio of the newest backtest fold, nearest the forecast (a "
                  "ramp or level shift the model misses persists), as far as it stands out of "
                  "that fold's noise; `consistent`: only when every fold erred the same way, "
                  "the ratio closest to 1.")
    speculative_final_fit: bool = _doc(
        False, "Fit every candidate's final model while the backtest runs instead of only the "
               "champions after the choice (only the champion is kept). Off by default: on "
               "the 500 store-item series the backtest leaves no core idle, and the boosting "
               "fit it wasted when the profile won cost 2.5-3 s of 13-19 s (2 cores).")

    def __post_init__(self):
        unknown = set(self.models) - set(MODEL_NAMES)
        if unknown:
            raise ValueError(f"unknown model(s) {sorted(unknown)}; known: {MODEL_NAMES}")
        if self.bias_correction_rule not in ("latest", "consistent"):
            raise ValueError(f"unknown bias_correction_rule {self.bias_correction_rule!r}; "
                             "known: latest, consistent")
        if self.horizon < 1 or self.n_folds < 1:
            raise ValueError("horizon and n_folds must be at least 1")


