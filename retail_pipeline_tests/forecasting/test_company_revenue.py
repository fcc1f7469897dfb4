"""Revenue-history uploads forecast per company: planted level, trend and week recovered."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.defs.forecasting import company as company_assets
from retail_pipeline.defs.ingest import assets as ingest_assets
from retail_pipeline.forecasting.company import (
    BACKTESTED,
    TooFewPoints,
    forecast_company_revenue,
    require_enough_points,
    too_short,
)
from retail_pipeline.forecasting.settings import ForecastSettings
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline_tests import pipeline

START = pd.Timestamp("2024-01-01")
LEVEL, TREND, WEEKEND, NOISE = 1000.0, 2.0, 300.0, 20.0  # per day; Saturday and Sunday higher
SETTINGS = ForecastSettings(models=("seasonal_naive", "prophet"), n_jobs=1)


def planted(days: int, extra: int = 30) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Dates and the noise-free revenue: level + trend x day + weekend uplift."""
    dates = pd.date_range(START, periods=days + extra, freq="D")
    t = np.arange(days + extra, dtype="float64")
    return dates, LEVEL + TREND * t + np.where(dates.day_of_week >= 5, WEEKEND, 0.0)


def history(company, days, seed=0, extra=30):
    dates, signal = planted(days, extra)
    noise = np.random.default_rng(seed).normal(0.0, NOISE, days)
    return pd.DataFrame({"date": dates[:days], "amount": np.round(signal[:days] + noise, 2),
                         "company_name": company})


def test_planted_level_trend_and_week_are_forecast_within_two_percent():
    upload = pd.concat([history("Acme", 200), history("Shorty", 40, seed=1)], ignore_index=True)
    result = forecast_company_revenue(upload, SETTINGS)
    assert result.rejected.empty
    for company, days in (("Acme", 200), ("Shorty", 40)):
        part = result.forecast[result.forecast["company_name"] == company].sort_values("ds")
        dates, signal = planted(days)
        truth = signal[days:]
        assert list(part["ds"]) == list(dates[days:])  # 30 days after the company's last date
        assert (part["yhat_lower"] <= part["yhat"]).all() and (part["yhat"] <= part["yhat_upper"]).all()
        error = np.abs(part["yhat"].to_numpy() - truth) / truth
        assert error.mean() < 0.02, (company, error.mean())
        # the weekend uplift is in the forecast: weekend minus weekday means near 300
        weekend = part["ds"].dt.day_of_week.to_numpy() >= 5
        uplift = part["yhat"].to_numpy()[weekend].mean() - part["yhat"].to_numpy()[~weekend].mean()
        assert uplift == pytest.approx(WEEKEND, rel=0.2)
        assert (part["history_points"] == days).all()
    acme = result.forecast[result.forecast["company_name"] == "Acme"]
    assert set(acme["method"]) == {BACKTESTED}  # 200 days: long enough for the backtest
    assert set(result.leaderboard["model"]) == {"seasonal_naive", "prophet"}
    shorty = result.forecast[result.forecast["company_name"] == "Shorty"]
    assert shorty["method"].iloc[0] == "prophet without backtest: 40 days of history, the " \
                                       "backtest needs 118"


def test_a_company_with_fewer_than_ten_points_is_rejected_by_name_and_count():
    upload = pd.concat([history("Acme", 60), history("Tiny", 7), history("Nine", 9)],
                       ignore_index=True)
    short = too_short(upload)
    assert dict(zip(short["company_name"], short["points"], strict=True)) == {"Nine": 9, "Tiny": 7}
    with pytest.raises(TooFewPoints, match=r"company 'Tiny' has 7 revenue data points; a "
                                           r"forecast needs at least 10"):
        require_enough_points(upload)
    result = forecast_company_revenue(upload, SETTINGS)
    assert set(result.forecast["company_name"]) == {"Acme"} and len(result.forecast) == 30
    assert set(result.rejected["company_name"]) == {"Nine", "Tiny"}
    require_enough_points(history("Ten", 10))  # exactly ten points is enough


@pytest.fixture
def warehouse_url(tmp_path):
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def _materialize(layout, url):
    assets = [a for a in dg.load_assets_from_modules([ingest_assets, company_assets])
              if isinstance(a, dg.AssetsDefinition)]
    checks = dg.load_asset_checks_from_modules([company_assets])
    config = {"ops": {"company_revenue_forecast": {"config": {"models": list(SETTINGS.models),
                                                              "n_jobs": 1}}}}
    return dg.materialize([*assets, *checks],
                          selection=dg.AssetSelection.assets("raw_revenue_history",
                                                             "company_revenue_forecast"),
                          resources=pipeline.test_resources(layout, url), run_config=config)


def _read(url, table):
    engine = sa.create_engine(url)
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


def test_an_uploaded_revenue_file_is_served_and_a_short_company_fails_the_check(layout,
                                                                              warehouse_url):
    upload = pd.concat([history("Acme", 150), history("Tiny", 6)], ignore_index=True)
    path = layout.incoming / "revenue.csv"
    upload.to_csv(path, index=False)
    assert ingest_file(path, layout).accepted
    result = _materialize(layout, warehouse_url)
    assert result.success  # the refresh goes on; the check says what is wrong
    served = _read(warehouse_url, "company_revenue_forecast")
    assert {"ds", "yhat", "yhat_lower", "yhat_upper"} <= set(served.columns)
    assert set(served["company_name"]) == {"Acme"} and len(served) == 30
    dates, signal = planted(150)
    assert pd.to_datetime(served["ds"]).min() == dates[150]
    error = np.abs(served.sort_values("ds")["yhat"].to_numpy() - signal[150:]) / signal[150:]
    assert error.mean() < 0.02
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "company_revenue_history_is_long_enough" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["message"].text == ("company 'Tiny' has 6 revenue data points; a "
                                              "forecast needs at least 10")


def test_no_revenue_history_gives_an_empty_table(layout, warehouse_url):
    result = _materialize(layout, warehouse_url)
    assert result.success
    assert _read(warehouse_url, "company_revenue_forecast").empty
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_a_single_unnamed_company_with_a_short_history_gets_the_weekly_naive():
    upload = history(None, 14).drop(columns="company_name")  # the column is optional
    result = forecast_company_revenue(upload, SETTINGS)
    forecast = result.forecast
    assert len(forecast) == 30 and forecast["company_name"].isna().all()
    assert set(forecast["model"]) == {"seasonal_naive_week"}
    assert forecast["method"].iloc[0].startswith("seasonal_naive_week without backtest: 14 days")
    # the last observed week repeated: day 14 + i forecasts the value of day 7 + (i mod 7)
    last_week = upload["amount"].to_numpy()[7:14]
    assert forecast.sort_values("ds")["yhat"].to_numpy() == pytest.approx(np.tile(last_week, 5)[:30])
