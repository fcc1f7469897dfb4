"""An uploaded ``marketing_outcomes`` series (with controls) is what the media-mix model explains."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.definitions import defs
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.marketing.tables import outcome_from_upload
from retail_pipeline.marketing.wide import ROBYN_WEEKLY, to_long
from retail_pipeline.platform.layout import DataLayout
from retail_pipeline_tests.conftest import SHARED_DATA
from retail_pipeline_tests.pipeline import test_resources as resources_for

ROBYN = SHARED_DATA / "marketing" / "robyn_dt_simulated_weekly.csv"
FAST = {"ops": {"media_mix_model": {"config": {"n_candidates": 32, "n_refine": 1, "refine_evals": 80,
                                               "n_bootstrap": 20}}}}


def test_text_controls_become_indicators_and_numbers_stay_numbers():
    outcomes = pd.DataFrame({"date": pd.to_datetime(["2024-01-08", "2024-01-01", "2024-01-15"]),
                             "revenue": [3.0, 1.0, 2.0],
                             "competitor": ["10", "", "30.5"], "events": ["", "xmas", "na"]}).astype(
        {"competitor": "str", "events": "str"})
    revenue, controls = outcome_from_upload(outcomes)
    assert revenue.tolist() == [1.0, 3.0, 2.0]  # sorted by date
    assert controls["competitor"].tolist() == [0.0, 10.0, 30.5]
    assert controls["events_xmas"].tolist() == [1.0, 0.0, 0.0]
    assert list(controls.columns) == ["competitor", "events_xmas"]


@pytest.mark.skipif(not ROBYN.exists(), reason="shared data not present")
def test_the_model_explains_the_uploaded_outcome_with_its_controls(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    spend, outcomes = to_long(pd.read_csv(ROBYN), ROBYN_WEEKLY, ROBYN.name)
    for name, frame in (("marketing_spend", spend), ("marketing_outcomes", outcomes)):
        path = layout.incoming / f"{name}.csv"
        frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
        assert ingest_file(path, layout).accepted
    url = f"sqlite:///{tmp_path / 'w.db'}"
    definitions = defs()
    selection = (dg.AssetSelection.assets("media_mix_contributions", "ml_roi_forecast").upstream()
                 - dg.AssetSelection.groups("uploads"))
    result = dg.materialize([*definitions.assets], selection=selection,
                            resources=resources_for(layout, url), run_config=FAST)
    assert result.success
    meta = next(m for m in result.asset_materializations_for_node("media_mix_model")
                if m.asset_key.path == ["media_mix_contributions"]).metadata
    expected_controls = 1 + outcomes.columns.str.startswith("events_").sum()  # competitor + event values
    assert meta["outcome"].value == f"uploaded marketing_outcomes ({expected_controls} controls)"
    contributions = pd.read_sql_table("media_mix_contributions", sa.create_engine(url))
    fitted = contributions.groupby("date")["contribution"].sum()
    actual = outcomes.set_index("date")["revenue"].reindex(pd.to_datetime(fitted.index))
    assert len(fitted) == len(outcomes)  # every uploaded week is modelled, none invented
    assert np.corrcoef(fitted.to_numpy(), actual.to_numpy())[0, 1] > 0.9
