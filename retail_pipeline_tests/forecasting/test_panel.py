import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.panel import LEVELS, PANEL_COLUMNS, forecast_panel


def test_missing_days_are_zero_and_series_start_at_first_sale():
    sales = pd.DataFrame({
        "date": pd.to_datetime(["2024-01-01", "2024-01-04", "2024-01-03", "2024-01-05"]),
        "shop_id": ["A", "A", "B", "B"], "product_id": ["x", "x", "x", "y"],
        "quantity": [2.0, 3.0, 5.0, 1.0]})
    panel = forecast_panel(sales, max_series_per_level=None)
    assert list(panel.columns) == PANEL_COLUMNS
    ax = panel[panel["series_id"] == "shop=A|product=x"].set_index("ds")["y"]
    expected = pd.Series([2.0, 0.0, 0.0, 3.0, 0.0],
                         index=pd.date_range("2024-01-01", "2024-01-05", name="ds"), name="y")
    pd.testing.assert_series_equal(ax, expected, check_freq=False)
    # B/x starts at its first sale (Jan 3), not at the data set's first day
    bx = panel[panel["series_id"] == "shop=B|product=x"]
    assert bx["ds"].min() == pd.Timestamp("2024-01-03") and len(bx) == 3
    total = panel[panel["level"] == "total"].set_index("ds")["y"]
    assert total.tolist() == [2.0, 0.0, 5.0, 3.0, 1.0]
    # keys not applicable at a level are missing
    shop_rows = panel[panel["level"] == "shop"]
    assert shop_rows["product_id"].isna().all() and shop_rows["shop_id"].notna().all()
    assert panel.loc[panel["level"] == "total", ["shop_id", "product_id"]].isna().all().all()


def test_levels_sum_to_the_same_daily_totals(daily_sales):
    panel = forecast_panel(daily_sales, max_series_per_level=None)
    assert set(panel["level"]) == set(LEVELS)
    expected = daily_sales.groupby("date")["quantity"].sum()
    for level in LEVELS:
        sums = panel[panel["level"] == level].groupby("ds")["y"].sum()
        # days without any sale are zero in the panel and absent in daily_sales
        assert np.allclose(sums.reindex(expected.index).to_numpy(), expected.to_numpy())
        assert sums.drop(expected.index, errors="ignore").eq(0).all()
    n_shops, n_products = daily_sales["shop_id"].nunique(), daily_sales["product_id"].nunique()
    counts = panel.groupby("level")["series_id"].nunique()
    assert counts.to_dict() == {"total": 1, "shop": n_shops, "product": n_products,
                                "shop_product": n_shops * n_products}


def test_cap_keeps_the_largest_series_and_aggregates_stay_complete(daily_sales):
    panel = forecast_panel(daily_sales, max_series_per_level=2)
    volume = daily_sales.groupby(["shop_id", "product_id"])["quantity"].sum()
    top2 = {f"shop={s}|product={p}" for s, p in volume.sort_values().index[-2:]}
    assert set(panel.loc[panel["level"] == "shop_product", "series_id"]) == top2
    assert panel.loc[panel["level"] == "total", "y"].sum() == pytest.approx(
        daily_sales["quantity"].sum())
    assert panel[panel["level"] == "product"]["series_id"].nunique() == 2


def test_rejects_bad_input(daily_sales):
    with pytest.raises(ValueError):
        forecast_panel(daily_sales, levels=["region"])
    with pytest.raises(KeyError):
        forecast_panel(daily_sales.drop(columns="quantity"))
    assert forecast_panel(daily_sales.iloc[:0]).empty
