"""Issue 10: the panel forecasts net demand by default, gross demand on request."""

import dagster as dg
import pandas as pd
import pytest

from retail_pipeline.defs.forecasting import assets as fa
from retail_pipeline.forecasting.panel import forecast_panel

# Two shops, two products, four days. Returns make some days' net units negative:
# S1/P1 on Jan 2 sold 1 and took back 4 (net -3); S2/P2 on Jan 3 sold 0 and took back 2.
ROWS = [
    # date, shop, product, gross (sold), returned
    ("2024-01-01", "S1", "P1", 5, 0),
    ("2024-01-02", "S1", "P1", 1, 4),
    ("2024-01-04", "S1", "P1", 6, 1),
    ("2024-01-01", "S1", "P2", 2, 0),
    ("2024-01-03", "S1", "P2", 3, 3),
    ("2024-01-02", "S2", "P1", 7, 2),
    ("2024-01-01", "S2", "P2", 4, 0),
    ("2024-01-03", "S2", "P2", 0, 2),
]


@pytest.fixture
def daily_sales():
    frame = pd.DataFrame(ROWS, columns=["date", "shop_id", "product_id", "gross_quantity",
                                        "returned_quantity"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["quantity"] = frame["gross_quantity"] - frame["returned_quantity"]
    return frame


def _by_hand(kind: str, key) -> dict:
    """Units per series over Jan 1..4 from ROWS, summed by ``key(shop, product)``, zero-filled,
    then negative days set to 0; with the count and units of the clipped days."""
    days = pd.date_range("2024-01-01", "2024-01-04")
    sums = {}
    for date, shop, product, gross, returned in ROWS:
        units = gross if kind == "gross" else gross - returned
        series = sums.setdefault(key(shop, product), dict.fromkeys(days, 0.0))
        series[pd.Timestamp(date)] += units
    clipped = [v for series in sums.values() for v in series.values() if v < 0]
    values = {k: [max(v, 0.0) for v in series.values()] for k, series in sums.items()}
    return {"values": values, "clipped_days": len(clipped), "clipped_units": -sum(clipped)}


LEVEL_KEYS = {
    "total": lambda shop, product: "total",
    "shop": lambda shop, product: f"shop={shop}",
    "product": lambda shop, product: f"product={product}",
    "shop_product": lambda shop, product: f"shop={shop}|product={product}",
}


def _series(panel, level, sid):
    part = panel[(panel["level"] == level) & (panel["series_id"] == sid)].set_index("ds")["y"]
    return part.reindex(pd.date_range("2024-01-01", "2024-01-04"), fill_value=0.0).tolist()


@pytest.mark.parametrize("kind", ["net", "gross"])
def test_panel_counts_the_chosen_demand_with_negative_days_clipped(daily_sales, kind):
    panel = forecast_panel(daily_sales, max_series_per_level=None, demand=kind)
    report = panel.attrs["demand"]
    assert report["demand"] == kind
    assert report["column"] == {"net": "quantity", "gross": "gross_quantity"}[kind]
    for level, key in LEVEL_KEYS.items():
        expected = _by_hand(kind, key)
        for sid, values in expected["values"].items():
            assert _series(panel, level, sid) == values, (level, sid)
        assert report["clipped_days"][level] == expected["clipped_days"]
        assert report["clipped_units"][level] == pytest.approx(expected["clipped_units"])
    total = _series(panel, "total", "total")
    if kind == "net":
        # S1/P1 Jan 2 nets -3 and S2/P2 Jan 3 nets -2 (clipped at shop x product level);
        # product P1 on Jan 2 nets -3 + 5 = 2 (not clipped), P2 on Jan 3 nets 0 - 2;
        # the total nets each day over everything: Jan 3 is 0 + (-2) -> clipped to 0
        assert report["clipped_days"] == {"total": 1, "shop": 2, "product": 1,
                                          "shop_product": 2}
        assert total == [11.0, 2.0, 0.0, 5.0]
    else:
        assert set(report["clipped_days"].values()) == {0}
        assert total == [11.0, 8.0, 3.0, 6.0]


def test_net_is_the_default(daily_sales):
    pd.testing.assert_frame_equal(forecast_panel(daily_sales),
                                  forecast_panel(daily_sales, demand="net"))


def test_gross_without_gross_column_is_refused_by_name(daily_sales):
    old = daily_sales.drop(columns=["gross_quantity", "returned_quantity"])
    with pytest.raises(KeyError, match="gross_quantity.*demand='gross'"):
        forecast_panel(old, demand="gross")
    assert forecast_panel(old).attrs["demand"]["column"] == "quantity"  # net still works
    with pytest.raises(ValueError, match="unknown demand 'returns'"):
        forecast_panel(daily_sales, demand="returns")


def test_panel_asset_config_and_metadata(daily_sales):
    @dg.asset(name="daily_sales")
    def daily_sales_input() -> pd.DataFrame:
        return daily_sales

    result = dg.materialize(
        [daily_sales_input, fa.forecast_panel],
        run_config={"ops": {"forecast_panel": {"config": {"demand": "gross"}}}})
    assert result.success
    panel = result.output_for_node("forecast_panel")
    assert panel.loc[panel["level"] == "total", "y"].sum() == pytest.approx(
        daily_sales["gross_quantity"].sum())
    meta = result.asset_materializations_for_node("forecast_panel")[0].metadata
    assert meta["demand"].value == "gross" and meta["clipped_days_shop_product"].value == 0
    default = dg.materialize([daily_sales_input, fa.forecast_panel])
    meta = default.asset_materializations_for_node("forecast_panel")[0].metadata
    assert meta["demand"].value == "net" and meta["demand_column"].value == "quantity"
    assert meta["clipped_days_shop_product"].value == 2 and meta["clipped_days_total"].value == 1
    assert meta["clipped_units_shop_product"].value == pytest.approx(5.0)
