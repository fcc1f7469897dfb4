"""Accuracy over time: stored forecast vintages scored against what actually sold."""

import numpy as np
import pandas as pd

from retail_pipeline.forecasting.accuracy import forecast_accuracy, vintage_id


def _vintage(run_id: str, first: str, days: int, yhat: float, width: float) -> pd.DataFrame:
    dates = pd.date_range(first, periods=days)
    return pd.DataFrame({"run_id": run_id, "date": dates, "level": "total", "series_id": "total",
                         "yhat": yhat, "yhat_lower": yhat - width, "yhat_upper": yhat + width,
                         "model_version": f"v-{run_id}"})


def test_each_vintage_is_scored_by_age_against_actuals():
    actual = pd.DataFrame({"level": "total", "series_id": "total",
                           "ds": pd.date_range("2024-01-01", periods=40), "y": 10.0})
    history = pd.concat([_vintage("r1", "2024-01-01", 10, yhat=12.0, width=1.0),   # +2, never covered
                         _vintage("r2", "2024-01-08", 30, yhat=9.0, width=2.0),    # -1, covered
                         _vintage("r3", "2024-02-20", 5, yhat=50.0, width=1.0)])   # not due yet
    scored = forecast_accuracy(history, actual).set_index("age_bucket")
    week1 = scored.loc["1-7 days"]  # r1 days 1-7 (error +2) and r2 days 1-7 (error -1)
    assert week1["vintages"] == 2 and week1["points"] == 14
    assert np.isclose(week1["mae"], (7 * 2 + 7 * 1) / 14)
    assert np.isclose(week1["bias"], (7 * 2 - 7 * 1) / 14)
    assert np.isclose(week1["bias_pct"], 100 * week1["bias"] / 10.0)
    assert np.isclose(week1["coverage"], 7 / 14)
    late = scored.loc["31+ days"] if "31+ days" in scored.index else None
    assert late is None  # r2 reaches day 30 at most; r3 has no actuals yet
    assert scored.loc["15-30 days", "points"] == 16  # r2's days 15-30: 2024-01-22 .. 02-06
    assert scored.loc["8-14 days", "points"] == 3 + 7  # r1's days 8-10 and r2's days 8-14


def test_vintage_id_changes_with_origin_or_model_only():
    a = _vintage("r1", "2024-01-01", 5, 1.0, 1.0)
    assert vintage_id(a) == vintage_id(a.assign(yhat=2.0))  # same origin and models: same vintage
    assert vintage_id(a) != vintage_id(_vintage("r1", "2024-01-02", 5, 1.0, 1.0))
    assert vintage_id(a) != vintage_id(a.assign(model_version="v-other"))
    assert vintage_id(a.iloc[:0]) == ""
