import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting import charts
from retail_pipeline.forecasting.decomposition import seasonal_decomposition
from retail_pipeline.forecasting.panel import forecast_panel

from .conftest import WEEKLY

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def panel(synthetic):
    return forecast_panel(synthetic[0], max_series_per_level=None)


def test_decomposition_recovers_weekly_pattern(panel):
    dec = seasonal_decomposition(panel, last_days=365)
    assert set(dec["level"]) == {"total", "shop", "product"}
    np.testing.assert_allclose(dec["trend"] + dec["seasonal"] + dec["resid"], dec["observed"],
                               atol=1e-8)
    total = dec[dec["series_id"] == "total"]
    weekday = total.groupby(total["ds"].dt.day_of_week)["seasonal"].mean().to_numpy()
    level = total["trend"].mean()
    expected = (WEEKLY - WEEKLY.mean()) / WEEKLY.mean() * level
    assert np.corrcoef(weekday, expected)[0, 1] > 0.97
    assert np.max(np.abs(weekday - expected)) < 0.15 * (expected.max() - expected.min())
    assert total["ds"].nunique() == 365


def test_charts_write_pngs(panel, tmp_path):
    series = charts.top_series(panel, n=3)
    assert series[0] == "total" and len(series) == 3
    errors = pd.DataFrame({
        "series_id": "total", "model": ["a"] * 10 + ["b"] * 10, "fold": [0] * 5 + [1] * 5 + [0] * 5 + [1] * 5,
        "ds": list(pd.date_range("2023-01-01", periods=10)) * 2, "y": np.arange(20.0),
        "yhat": np.arange(20.0) + 1})
    forecast = pd.DataFrame({"series_id": "total", "date": pd.date_range("2024-01-01", periods=5),
                             "yhat": 5.0, "yhat_lower": 3.0, "yhat_upper": 8.0, "model": "x"})
    importances = pd.DataFrame({"model": "m", "cohort": "total", "feature": ["a", "b"],
                                "importance": [0.7, 0.3]})
    board = pd.DataFrame({"scope": "level", "level": ["total", "total"], "model": ["a", "b"],
                          "mase": [0.8, 1.0], "smape": [10.0, 12.0], "bias_pct": [-3.0, 12.0],
                          "champion": [True, False],
                          "chosen_by": ["lowest MASE (0.800); bias -3.0% of demand", None]})
    dec = seasonal_decomposition(panel, levels=["total"])
    paths = [
        charts.history_chart(panel, series, tmp_path / "h.png"),
        charts.backtest_chart(errors, ["total"], tmp_path / "b.png"),
        charts.forecast_chart(panel, forecast, ["total"], tmp_path / "f.png"),
        charts.importance_chart(importances, tmp_path / "i.png"),
        charts.decomposition_chart(dec, "total", tmp_path / "d.png"),
        charts.leaderboard_chart(board, tmp_path / "l.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_importance_chart_stacks_levels_and_reads_at_full_size(tmp_path):
    import matplotlib.image as mpimg

    importances = pd.DataFrame({
        "model": "global_hgb", "cohort": np.repeat(["level=total", "level=shop", "level=product"], 4),
        "feature": ["mean_364_prev", "month_profile", "days_to_christmas", "lag_same_weekday"] * 3,
        "importance": [0.4, 0.3, 0.2, 0.1] * 3})
    height, width = mpimg.imread(charts.importance_chart(importances, tmp_path / "i.png")).shape[:2]
    one = importances[importances["cohort"] == "level=total"]
    height1, width1 = mpimg.imread(charts.importance_chart(one, tmp_path / "1.png")).shape[:2]
    assert width == width1 <= 1000  # readable at 100% zoom, however many levels
    assert height > 2.4 * height1  # one panel per level, stacked vertically
    assert charts.feature_label("mean_364_prev") == "average of the year before last"
    assert charts.feature_label("days_to_christmas") == "days until Christmas"


def test_forecast_chart_marks_holidays_inside_the_horizon(panel, tmp_path):
    calendar = pd.DataFrame({"date": pd.to_datetime(["2023-12-25", "2024-01-01", "2024-03-01"]),
                             "name": ["Christmas", "New Year", "later"]})
    marks = charts._horizon_holidays(calendar, pd.Timestamp("2023-12-31"),
                                     pd.Timestamp("2024-01-05"))
    assert [name for _, name in marks] == ["New Year"]
    forecast = pd.DataFrame({"series_id": "total", "date": pd.date_range("2023-12-31", periods=6),
                             "yhat": 5.0, "yhat_lower": 3.0, "yhat_upper": 8.0, "model": "x"})
    path = charts.forecast_overview(panel, forecast, calendar, tmp_path / "f.png")
    assert path.read_bytes()[:8] == PNG
