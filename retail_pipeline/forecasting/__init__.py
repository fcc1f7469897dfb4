"""Sales forecasting: a backtested model zoo, a champion per level, calibrated intervals.

Everything in this package is plain pandas / numpy / scikit-learn code with no Dagster
import, so the same functions run inside assets, in the benchmark script and in tests.

Map of the package (one concern per module):

- ``panel``: daily series at four levels (total, shop, product, shop x product).
- ``matrix``: the same series as a dense series x day array, the shape models work on.
- ``lags``: calendar, lag and rolling features that never look into the forecast period.
- ``events``: country holidays (``holidays`` library), user events and the Christmas /
  Black Friday / Easter peaks, as features and as Prophet's holidays.
- ``base``: the ``Forecaster`` interface every model implements.
- ``naive``, ``prophet_model``, ``forest``, ``boosting``, ``intermittent`` (Croston, SBA,
  TSB): the models (``tabular`` holds what the two tree models share, including their
  feature importances).
- ``cohort``: a Random Forest for one cohort (all / shop / product / shop x product).
- ``metrics``, ``backtest``, ``intervals``: rolling-origin evaluation, the leaderboard
  (with bias and the scaled pinball loss), champion selection and conformal intervals.
- ``pipeline``: backtest -> champion -> refit -> calibrated forecast (``sales_forecast``).
- ``decomposition``, ``registry``, ``charts``: the supporting outputs.
"""
