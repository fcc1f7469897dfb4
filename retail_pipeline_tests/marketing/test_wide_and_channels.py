"""Wide exports to long rows, and the channel metrics behind the forecasts."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.contract import validate
from retail_pipeline.marketing.channels import (
    channel_daily,
    channel_metrics,
    forecast_metrics,
    timeseries_tables,
)
from retail_pipeline.marketing.wide import MERIDIAN_NATIONAL, ROBYN_WEEKLY, WideSpec, to_long
from retail_pipeline_tests.conftest import SHARED_DATA

WIDE = pd.DataFrame({"week": ["2024-01-01", "2024-01-08"], "tv_cost": [100.0, 0.0],
                     "web_cost": [50.0, 60.0], "web_imp": [1000, 1200], "web_clicks": [10, 30],
                     "conv": [20.0, 30.0], "rpc": [2.0, 3.0], "event": ["na", "sale"]})
SPEC = WideSpec(date="week",
                channels={"tv": {"spend": "tv_cost"},
                          "web": {"spend": "web_cost", "impressions": "web_imp", "clicks": "web_clicks"}},
                outcome={"conversions": "conv", "revenue_per_conversion": "rpc"},
                controls=("event",))


def test_wide_to_long_by_hand():
    long, outcomes = to_long(WIDE, SPEC, "wide.csv")
    web = long[long["channel"] == "web"]
    assert web["spend"].tolist() == [50.0, 60.0] and web["clicks"].tolist() == [10, 30]
    assert long[long["channel"] == "tv"]["clicks"].isna().all()
    assert outcomes["revenue"].tolist() == [40.0, 90.0]  # conversions x revenue per conversion
    assert outcomes["event_sale"].tolist() == [0.0, 1.0]  # a text control becomes indicators
    typed = validate(long.astype({"date": "str"}).astype("object").where(long.notna(), None),
                     "marketing_spend")
    assert len(typed) == 4


def test_wide_mapping_names_unknown_columns_and_bad_values():
    bad = WideSpec(date="week", channels={"tv": {"spend": "tv_spend"}}, outcome={"revenue": "conv"})
    with pytest.raises(ValueError, match=r"wide.csv: column\(s\) \['tv_spend'\]"):
        to_long(WIDE, bad, "wide.csv")
    broken = WIDE.assign(web_cost=["50", "lots"])
    with pytest.raises(ValueError, match="row 3, column 'web_cost': 'lots' is not a number"):
        to_long(broken, SPEC, "wide.csv")


@pytest.mark.parametrize(("name", "spec", "channels", "weeks"), [
    ("robyn_dt_simulated_weekly.csv", ROBYN_WEEKLY, 5, 208),
    ("meridian_national_all_channels.csv", MERIDIAN_NATIONAL, 5, 156)])
def test_worked_specs_read_the_shared_files(name, spec, channels, weeks):
    path = SHARED_DATA / "marketing" / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    long, outcomes = to_long(frame, spec, name)
    assert long["channel"].nunique() == channels and len(outcomes) == weeks
    first = frame.iloc[0]
    expected = (first["revenue"] if "revenue" in spec.outcome.values()
                else first["conversions"] * first["revenue_per_conversion"])
    assert outcomes["revenue"].iloc[0] == pytest.approx(expected)


def test_channel_metrics_are_trailing_ratios():
    dates = pd.date_range("2024-01-01", periods=10)
    spend = pd.DataFrame({"date": dates, "channel": "web", "spend": 10.0,
                          "impressions": np.arange(1, 11) * 100, "clicks": np.arange(1, 11),
                          "conversions": 1.0, "reach": 50})
    metrics = channel_metrics(channel_daily(spend))
    last = metrics.iloc[-1]
    # trailing 7 days: clicks 4..10 = 49, impressions 400..1000 = 4900
    assert last["ctr"] == pytest.approx(49 / 4900)
    assert last["conversion_rate"] == pytest.approx(7 / 49)
    assert np.isnan(last["roi"])  # no revenue reported and no attribution given


def test_weekly_rows_are_spread_over_their_days():
    spend = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-08"]), "channel": "tv",
                          "spend": [70.0, 140.0]})
    daily = channel_daily(spend)
    assert len(daily) == 14 and daily["spend"].tolist() == [10.0] * 7 + [20.0] * 7


def test_channel_forecast_runs_through_the_forecasting_machinery():
    from retail_pipeline.marketing.synthetic import synthetic_marketing

    syn = synthetic_marketing(seed=1, days=160)
    attributed = syn.effects.rename_axis("date").reset_index().melt(
        id_vars="date", var_name="channel", value_name="contribution")
    metrics = channel_metrics(channel_daily(syn.spend), attributed)
    forecast = forecast_metrics(metrics, horizon=14, n_folds=2, models=("seasonal_naive",))
    roi, reach = timeseries_tables(forecast, metrics, history_days=30)
    last = metrics["date"].max()
    future = roi[roi["date"] > last]
    assert future["date"].nunique() == 14 and set(future["channel"]) == set(syn.truth)
    assert future["roi_pred"].notna().all() and (future["roi_lower"] <= future["roi_upper"]).all()
    assert reach[reach["date"] <= last]["reach_actual"].notna().all()
    # the past predictions are backtest forecasts beside the actual values
    assert reach[(reach["date"] <= last) & reach["reach_pred"].notna()].shape[0] > 0


def test_bad_marketing_rows_are_rejected_with_file_row_column_and_rule():
    from retail_pipeline.contract import ContractError

    upload = pd.DataFrame({"date": ["2024-01-01", "2024-01-02"], "channel": ["web", "web"],
                           "spend": ["-5", "3"], "impressions": ["10", "10"], "clicks": ["2", "20"]})
    with pytest.raises(ContractError) as caught:
        validate(upload, "marketing_spend", file="spend.csv")
    problems = {(p.file, p.row, p.column, p.rule) for p in caught.value.problems}
    assert ("spend.csv", 2, "spend", "spend must be at least 0") in problems
    assert ("spend.csv", 3, "clicks", "clicks must be at most impressions when both are given") in problems


def test_the_mapping_file_section_builds_the_worked_spec():
    import yaml

    section = yaml.safe_load("""
wide:
  date: DATE
  channels:
    tv: {spend: tv_S}
    ooh: {spend: ooh_S}
    print: {spend: print_S}
    facebook: {spend: facebook_S, impressions: facebook_I}
    search: {spend: search_S, clicks: search_clicks_P}
  outcome: {revenue: revenue}
  controls: [competitor_sales_B, events]
""")["wide"]
    assert WideSpec.from_dict(section) == ROBYN_WEEKLY
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['chanels'\]"):
        WideSpec.from_dict({**section, "chanels": {}})
