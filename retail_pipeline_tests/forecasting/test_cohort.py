import numpy as np
import pytest

from retail_pipeline.forecasting.cohort import cohort_name, train_cohort_forest
from retail_pipeline.forecasting.metrics import mae, mse, r2


def test_cohort_names():
    assert cohort_name("S1", "P2") == ("shop=S1|product=P2", "shop_product")
    assert cohort_name("S1", None) == ("shop=S1", "shop")
    assert cohort_name(None, "P2") == ("product=P2", "product")
    assert cohort_name(None, None) == ("total", "total")


def test_forest_for_one_shop_and_product(daily_sales):
    result = train_cohort_forest(daily_sales, shop_id="S2", product_id="P3", horizon=30,
                                 n_estimators=50)
    assert result.cohort == "shop=S2|product=P3" and result.level == "shop_product"
    hold = result.holdout
    assert len(hold) == 30
    assert result.metrics["mse"] == pytest.approx(mse(hold["y"], hold["yhat"]))
    assert result.metrics["mae"] == pytest.approx(mae(hold["y"], hold["yhat"]))
    assert result.metrics["r2"] == pytest.approx(r2(hold["y"], hold["yhat"]))
    # the synthetic weekly + yearly signal explains most of the variance of this series
    assert result.metrics["r2"] > 0.3
    imp = result.importances
    assert list(imp.columns) == ["model", "cohort", "feature", "importance"]
    assert imp["importance"].sum() == pytest.approx(1.0)
    assert (imp["cohort"] == "shop=S2|product=P3").all()
    assert imp.iloc[0]["importance"] == imp["importance"].max()
    assert len(result.model.predict(30)) == 30
    series = daily_sales[(daily_sales["shop_id"] == "S2") & (daily_sales["product_id"] == "P3")]
    assert result.history["y"].sum() == pytest.approx(series["quantity"].sum())


def test_forest_for_a_shop_and_unknown_cohort(daily_sales):
    result = train_cohort_forest(daily_sales, shop_id="S1", horizon=14, n_estimators=20)
    expected = daily_sales[daily_sales["shop_id"] == "S1"]["quantity"].sum()
    assert result.history["y"].sum() == pytest.approx(expected)
    assert np.isfinite(result.metrics["mae"])
    with pytest.raises(ValueError, match="no sales"):
        train_cohort_forest(daily_sales, shop_id="nope")


def test_cohort_forest_reuses_registry_unless_forced(daily_sales, tmp_path):
    from retail_pipeline.forecasting.cohort import cohort_forest
    from retail_pipeline.platform.registry import ModelRegistry

    registry = ModelRegistry(tmp_path)
    first = cohort_forest(daily_sales, registry, shop_id="S1", product_id="P1", horizon=14,
                          n_estimators=20)
    assert not first.reused and first.version
    again = cohort_forest(daily_sales, registry, shop_id="S1", product_id="P1", horizon=14,
                          n_estimators=20)
    assert again.reused and again.version == first.version
    assert again.metrics == pytest.approx(first.metrics)
    forced = cohort_forest(daily_sales, registry, shop_id="S1", product_id="P1", horizon=14,
                           n_estimators=20, force_retrain=True)
    assert not forced.reused and forced.version != first.version
    assert registry.latest(registry.record(forced.version).name).version == forced.version
