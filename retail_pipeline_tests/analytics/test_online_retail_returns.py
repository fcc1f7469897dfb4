"""Returns, cancellations, price-0 adjustments and a closed weekday on real data: UCI Online
Retail II (2009-12-01 .. 2010-12-09), read once, every expected number recomputed here with
plain pandas on the published columns."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.analytics import kpis
from retail_pipeline.sales.features import build_daily_sales, build_sales_features
from retail_pipeline_tests.conftest import SHARED_DATA

FILE = SHARED_DATA / "online_retail" / "online_retail_II_2009_2010.csv.gz"


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    """The file as published, minus the 4 lines the contract refuses: 3 bad-debt adjustments
    (``A`` invoices) at a negative price and 1 ``C`` line with a positive quantity."""
    frame = pd.read_csv(FILE, dtype={"Invoice": "str", "StockCode": "str", "Customer ID": "str"})
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    cancelled = frame["Invoice"].str.startswith("C")
    refused = (frame["Price"] < 0) | (cancelled & (frame["Quantity"] > 0))
    assert refused.sum() == 4
    return frame[~refused].reset_index(drop=True).assign(cancelled=cancelled[~refused].to_numpy())


@pytest.fixture(scope="module")
def features(published) -> pd.DataFrame:
    transactions = pd.DataFrame({
        "transaction_id": published["Invoice"] + "-" + pd.Series(np.arange(len(published))).astype("str"),
        "customer_id": published["Customer ID"],
        "product_id": published["StockCode"],
        "shop_id": "online",
        "quantity": published["Quantity"].astype("Int64"),
        "actual_price": published["Price"],
        "transaction_date": published["InvoiceDate"],
        "payment_method": pd.Series([None] * len(published), dtype="str"),
        "line_type": pd.Series(np.where(published["cancelled"], "cancellation", None), dtype="str"),
    })
    empty = {"customers": pd.DataFrame({"customer_id": pd.Series(dtype="str")}),
             "products": pd.DataFrame({"product_id": pd.Series(dtype="str"), "product_name": pd.Series(dtype="str"),
                                       "category": pd.Series(dtype="str"), "standard_price": pd.Series(dtype="float")}),
             "shops": pd.DataFrame({"shop_id": pd.Series(dtype="str")})}
    return build_sales_features(transactions, empty["customers"], empty["products"], empty["shops"])[0]


def test_summary_nets_c_invoices_and_leaves_price_zero_adjustments_out(published, features):
    priced = published["Price"] > 0
    sold = published[priced & ~published["cancelled"] & (published["Quantity"] > 0)]
    back = published[priced & (published["Quantity"] < 0)]
    assert not back.empty and back["cancelled"].all()  # every priced negative line is a C invoice
    summary = kpis.kpi_summary(features, pd.DataFrame(), pd.DataFrame()).set_index("metric")["value"]
    assert summary["gross_units"] == sold["Quantity"].sum()
    assert summary["returned_units"] == -back["Quantity"].sum()
    assert summary["return_rate"] == pytest.approx(-back["Quantity"].sum() / sold["Quantity"].sum())
    gross, returned = (sold["Quantity"] * sold["Price"]).sum(), -(back["Quantity"] * back["Price"]).sum()
    assert summary["gross_revenue"] == pytest.approx(gross) and summary["returned_revenue"] == pytest.approx(returned)
    assert summary["return_rate_revenue"] == pytest.approx(returned / gross)
    assert summary["zero_price_lines"] == (~priced).sum() > 3_000  # stock adjustments: no units sold
    assert summary["cancellation_lines"] == len(back)


def test_the_cancelled_9360_unit_order_is_no_net_spike(published, features):
    """Invoice 530715 sold 9,360 x 84347 on 2010-11-04; C536757 took them back on 2010-12-02."""
    daily = build_daily_sales(features).set_index(["date", "product_id"])
    sale_day = daily.loc[(pd.Timestamp("2010-11-04"), "84347")]
    cancel_day = daily.loc[(pd.Timestamp("2010-12-02"), "84347")]
    lines = published[published["StockCode"] == "84347"]
    on = lines[lines["InvoiceDate"].dt.normalize() == "2010-11-04"]
    assert sale_day["gross_quantity"] == on["Quantity"].sum() >= 9_360
    off = lines[lines["InvoiceDate"].dt.normalize() == "2010-12-02"]
    assert cancel_day["returned_quantity"] == -off.loc[off["Quantity"] < 0, "Quantity"].sum() >= 9_360
    assert cancel_day["quantity"] == off["Quantity"].sum() < 0
    priced = lines[lines["Price"] > 0]
    best = kpis.best_selling_products(features, n=100_000).set_index("product_id")
    gross = priced.loc[priced["Quantity"] > 0, "Quantity"].sum()
    assert best.loc["84347", "units"] == priced["Quantity"].sum() <= gross - 9_360  # the order nets out
    assert best.loc["84347", "gross_units"] == gross
    assert best.loc["84347", "returned_units"] == -priced.loc[priced["Quantity"] < 0, "Quantity"].sum() >= 9_360


def test_saturdays_average_per_calendar_day_and_december_2010_is_partial(published, features):
    by_weekday = kpis.sales_by_weekday(features).set_index("weekday")
    days = pd.date_range(published["InvoiceDate"].min().normalize(), published["InvoiceDate"].max().normalize())
    saturdays = (days.day_of_week == 5).sum()
    counted = published[published["Price"] > 0]
    saturday = counted[counted["InvoiceDate"].dt.day_of_week == 5]
    revenue = (saturday["Quantity"] * saturday["Price"]).sum()
    assert by_weekday.loc["Saturday", "calendar_days"] == saturdays == 53
    assert by_weekday.loc["Saturday", "days_with_sales"] == saturday["InvoiceDate"].dt.normalize().nunique()
    assert by_weekday.loc["Saturday", "revenue_per_day"] == pytest.approx(revenue / saturdays)
    # the shop is closed on Saturdays: per calendar Saturday it takes a sliver of a weekday
    assert by_weekday.loc["Saturday", "revenue_per_day"] < 0.05 * by_weekday.loc["Thursday", "revenue_per_day"]
    by_month = kpis.sales_by_month(features).set_index("month_start")
    assert by_month.loc["2010-12-01", ["complete", "days_covered"]].tolist() == [False, 9]
    assert by_month.loc["2009-12-01":"2010-11-01", "complete"].all()
