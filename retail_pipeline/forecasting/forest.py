"""Random Forest forecaster: the cohort model of the sales-dashboard design.

A forest of deep trees on the same leakage-free features as the boosting model. It is
robust and its impurity-based feature importances are easy to explain, which is why the
dashboard trains it for one cohort at a time (see ``cohort``). Training cost grows with
rows x trees, so ``max_train_rows`` subsamples the training rows on big panels.
"""

from __future__ import annotations

from sklearn.ensemble import RandomForestRegressor

from retail_pipeline.forecasting.tabular import TabularForecaster


class RandomForestForecaster(TabularForecaster):
    name = "random_forest"

    def __init__(self, horizon: int = 30, train_days: int = 730, n_estimators: int = 100,
                 min_samples_leaf: int = 5, max_features: float = 0.5,
                 max_depth: int | None = None, max_train_rows: int | None = 200_000, n_jobs: int | None = None,
                 random_state: int = 0, **kwargs):
        super().__init__(horizon=horizon, train_days=train_days, max_train_rows=max_train_rows,
                         random_state=random_state, **kwargs)
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.max_depth = max_depth
        self.n_jobs = n_jobs

    def _make_estimator(self) -> RandomForestRegressor:
        return RandomForestRegressor(
            n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, max_depth=self.max_depth, n_jobs=self.n_jobs,
            random_state=self.random_state)

    def _raw_importances(self):
        return self.estimator.feature_importances_
