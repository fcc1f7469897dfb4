"""Holidays and events: the calendar itself, and a planted event effect recovered (or not)."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.boosting import GlobalBoostingForecaster
from retail_pipeline.forecasting.events import (
    HolidayCalendar,
    country_code,
    country_of,
    peak_date,
    read_events,
)
from retail_pipeline.forecasting.prophet_model import ProphetForecaster

HORIZON = 28
LIFT = 3.0


def test_peaks_country_and_events_file(tmp_path):
    assert peak_date("black_friday", 2024) == pd.Timestamp("2024-11-29")
    assert peak_date("black_friday", 2023) == pd.Timestamp("2023-11-24")
    assert peak_date("easter", 2024) == pd.Timestamp("2024-03-31")
    assert country_code("United Kingdom") == "GB" and country_code("de") == "DE"
    assert country_code("") is None
    sales = pd.DataFrame({"country": ["France", "United Kingdom", "United Kingdom"],
                          "quantity": [10.0, 1.0, 1.0]})
    assert country_of(sales, "DE") == "France"  # by units sold, not by rows
    assert country_of(sales.drop(columns="country"), "DE") == "DE"
    events = tmp_path / "events.csv"
    events.write_text("date,name\n2024-06-01,summer sale\n")
    calendar = HolidayCalendar("GB", read_events(events))
    days = calendar.holidays("2024-05-01", "2024-12-31")
    assert ("summer sale", "event") in set(zip(days["name"], days["kind"], strict=True))
    assert pd.Timestamp("2024-12-25") in set(days.loc[days["kind"] == "holiday", "date"])
    feats = calendar.features(pd.DatetimeIndex(["2024-06-01", "2024-12-20", "2024-12-27"]))
    assert feats["event"].tolist() == [1, 0, 0]
    assert feats["holiday"].tolist() == [0, 0, 0]  # Boxing Day 2024 is the 26th
    assert feats["days_to_christmas"].tolist() == [60, 5, 60]  # clipped at FAR = 60
    assert feats["days_since_christmas"].tolist()[2] == 2


def _planted(seed: int = 0):
    """10 series over two years with sales x LIFT on irregular event days (known truth)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2022-01-01", periods=2 * 365, freq="D")
    gaps = rng.integers(30, 60, size=40)
    event_days = days[0] + pd.to_timedelta(np.cumsum(gaps), unit="D")
    last = days[-1]
    # one event inside the horizon, on a day with no event a year (364 or 365 days) before
    future = last + pd.Timedelta(days=12)
    event_days = event_days[(event_days <= last)].append(pd.DatetimeIndex([future]))
    weekly = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.4, 0.8])
    lam = 20 * weekly[days.day_of_week] * np.where(days.isin(event_days), LIFT, 1.0)
    frames = [pd.DataFrame({"series_id": f"s{i}", "ds": days,
                            "y": rng.poisson(lam * (0.5 + 0.1 * i)).astype(float)})
              for i in range(10)]
    return pd.concat(frames, ignore_index=True), event_days, future


def _lift_on(pred: pd.DataFrame, day: pd.Timestamp) -> float:
    """Forecast on ``day`` over the forecast on the same weekday one week either side."""
    by_day = pred.groupby("ds")["yhat"].sum()
    return by_day[day] / np.mean([by_day[day - pd.Timedelta(days=7)],
                                  by_day[day + pd.Timedelta(days=7)]])


@pytest.fixture(scope="module")
def planted():
    return _planted()


def test_planted_event_is_forecast_only_when_in_the_calendar(planted):
    history, event_days, future = planted
    with_event = HolidayCalendar(None, tuple((d, "sale day") for d in event_days))
    without = HolidayCalendar(None, tuple((d, "sale day") for d in event_days if d != future))
    lifts = {}
    for name, calendar in (("with", with_event), ("without", without)):
        model = GlobalBoostingForecaster(horizon=HORIZON, calendar=calendar).fit(history)
        lifts[name] = _lift_on(model.predict(HORIZON), future)
    assert lifts["with"] == pytest.approx(LIFT, rel=0.25)
    assert lifts["without"] == pytest.approx(1.0, abs=0.15)
    assert "event" in GlobalBoostingForecaster(horizon=HORIZON, calendar=with_event).fit(
        history).feature_names


def test_prophet_gets_the_same_events(planted):
    history, event_days, future = planted
    one = history[history["series_id"] == "s5"]
    calendar = HolidayCalendar(None, tuple((d, "sale day") for d in event_days))
    with_event = ProphetForecaster(calendar=calendar).fit(one).predict(HORIZON)
    plain = ProphetForecaster().fit(one).predict(HORIZON)
    assert _lift_on(with_event, future) > 2.0
    assert _lift_on(plain, future) == pytest.approx(1.0, abs=0.15)
