"""Global gradient boosting: one HistGradientBoostingRegressor over every series of a level.

A single model across all series learns the weekly and yearly shape from hundreds of
series at once, which beats fitting each short, noisy series alone (one Prophet per
series) and is much faster: one histogram-based fit on all rows instead of hundreds of
optimisations. Features and target are described in ``features``; the defaults
(learning rate 0.12, 120 trees of 15 leaves, 100 rows per leaf, two years of target days)
were chosen by backtesting on data before the benchmark's holdout and are deliberately
small so that backtest + refit stay fast.

Threads: ``threads=1`` by default. scikit-learn's boosting uses OpenMP, whose threads
spin-wait at every barrier; on a two-core machine that is also running other work this
made one fit seven times slower (33.6 s with two threads against 4.9 s with one, measured
while the machine had a load of 4). ``threads=None`` uses all cores.

Importances: histogram boosting has no impurity importances, so ``feature_importances``
uses permutation importance (drop in R2 on the log-ratio target when a feature is
shuffled) on a fixed sample of 4,000 training rows.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from retail_pipeline.forecasting.tabular import TabularForecaster


class GlobalBoostingForecaster(TabularForecaster):
    name = "global_hgb"

    def __init__(self, horizon: int = 30, train_days: int = 730, max_iter: int = 120,
                 learning_rate: float = 0.12, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 100, l2_regularization: float = 0.0,
                 max_bins: int = 255, threads: int | None = 1, random_state: int = 0, **kwargs):
        super().__init__(horizon=horizon, train_days=train_days, random_state=random_state,
                         **kwargs)
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.threads = threads
        self.max_bins = max_bins

    def _compute(self):
        return threadpool_limits(self.threads, user_api="openmp") if self.threads else nullcontext()

    def _make_estimator(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, max_bins=self.max_bins,
            early_stopping=False,
            random_state=self.random_state)

    def _raw_importances(self) -> np.ndarray:
        X, z = self._importance_sample
        result = permutation_importance(self.estimator, X, z, n_repeats=3,
                                        random_state=self.random_state)
        return result.importances_mean
