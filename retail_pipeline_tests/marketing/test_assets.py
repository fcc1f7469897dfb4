"""The marketing group materialised on a small generated sample with real resources."""

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.definitions import defs
from retail_pipeline.platform.warehouse import History, Warehouse
from retail_pipeline_tests.pipeline import test_resources as resources_for

MARKETING = dg.AssetSelection.groups("marketing")
FAST = {"ops": {
    "media_mix_model": {"config": {"n_candidates": 32, "n_refine": 1, "refine_evals": 80,
                                   "n_bootstrap": 30}},
    "channel_forecast": {"config": {"models": ["seasonal_naive"], "n_folds": 2,
                                    "history_days": 60}},
}}


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_sample):
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.platform.layout import DataLayout

    layout = DataLayout(tmp_path_factory.mktemp("mkt") / "data").ensure()
    for name in ("transactions", "marketing_spend"):
        path = layout.incoming / f"{name}.csv"
        small_sample.tables()[name].to_csv(path, index=False)
        assert ingest_file(path, layout).accepted
    url = f"sqlite:///{layout.root / 'warehouse.db'}"
    definitions = defs()
    result = dg.materialize(
        [*definitions.assets], selection=MARKETING.upstream() - dg.AssetSelection.groups("uploads"),
        resources=resources_for(layout, url), run_config=FAST)
    return result, layout, url


def test_the_marketing_group_materialises_and_serves_its_tables(run, small_sample):
    result, layout, url = run
    assert result.success
    engine = sa.create_engine(url)
    channels = set(small_sample.extra["marketing_spend"]["channel"])
    roi = pd.read_sql_table("ml_roi_forecast", engine)
    assert set(roi["channel"]) == channels and {"id", "created_at", "roi_forecast"} <= set(roi.columns)
    budget = pd.read_sql_table("ml_budget_rec", engine)
    assert {"id", "channel", "roi_pred", "conversion_pred", "acquisition_cost",
            "recommended_budget", "total_budget", "created_at"} <= set(budget.columns)
    assert budget["recommended_budget"].sum() == pytest.approx(budget["total_budget"].iloc[0])
    assert (budget["recommended_budget"] >= budget["lower_bound"] - 1e-9).all()
    assert (budget["recommended_budget"] <= budget["upper_bound"] + 1e-9).all()
    # the default total is the last period's spend (28 days)
    spend = small_sample.extra["marketing_spend"]
    last = spend[spend["date"] > spend["date"].max() - pd.Timedelta(days=28)]["spend"].sum()
    assert budget["total_budget"].iloc[0] == pytest.approx(last, rel=1e-6)
    for table in ("ml_roi_timeseries", "ml_reach_ctr_timeseries"):
        frame = pd.read_sql_table(table, engine)
        assert len(frame) and set(frame["channel"]) == channels and "created_at" in frame
    contrib = pd.read_sql_table("media_mix_contributions", engine)
    assert set(contrib["channel"]) == channels | {"baseline"}
    curves = pd.read_sql_table("response_curves", engine)
    assert set(curves["channel"]) == channels
    charts = {p.name for p in layout.charts.glob("*.png")}
    assert {"marketing_roi_forecast.png", "marketing_budget.png", "marketing_response_curves.png",
            "marketing_contributions.png", "marketing_roi_timeseries.png",
            "marketing_reach_ctr.png"} <= charts


def test_the_sales_carry_the_planted_marketing_revenue(small_sample):
    truth = small_sample.truth["marketing"]
    planted, intended = truth["planted_revenue"], sum(truth["effect_revenue"].values())
    assert planted == pytest.approx(intended, rel=0.1)  # stochastic rounding of quantities


def test_history_tables_keep_the_newest_1000_rows(tmp_path):
    wh = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    policy = History(keep_rows=1000, index_columns=("channel",))
    for run_no in range(12):  # 12 runs of 100 rows = 1,200 rows
        frame = pd.DataFrame({"channel": [f"c{i % 5}" for i in range(100)],
                              "roi_forecast": [run_no * 100 + i for i in range(100)]})
        wh.append_history("ml_roi_forecast", frame, f"run{run_no}", policy)
    kept = wh.read_table("ml_roi_forecast")
    assert len(kept) == 1000
    assert sorted(kept["roi_forecast"]) == list(range(200, 1200))


def test_without_a_marketing_upload_the_tables_are_empty_not_invented(tmp_path, small_sample):
    from retail_pipeline.ingest.ingest import ingest_file
    from retail_pipeline.platform.layout import DataLayout

    layout = DataLayout(tmp_path / "data").ensure()
    path = layout.incoming / "transactions.csv"
    small_sample.transactions.head(500).to_csv(path, index=False)
    assert ingest_file(path, layout).accepted
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    definitions = defs()
    result = dg.materialize(
        [*definitions.assets], selection=MARKETING.upstream() - dg.AssetSelection.groups("uploads"),
        resources=resources_for(layout, url), run_config=FAST)
    assert result.success
    engine = sa.create_engine(url)
    for table in ("ml_roi_forecast", "ml_budget_rec", "ml_roi_timeseries",
                  "ml_reach_ctr_timeseries", "media_mix_contributions", "response_curves"):
        assert len(pd.read_sql_table(table, engine)) == 0, table
    assert (layout.charts / "marketing_budget.png").exists()
