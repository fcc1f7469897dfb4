"""ABC by revenue and XYZ by variability, with the service level per class."""

import numpy as np
import pandas as pd

from retail_pipeline.inventory.policy import abc_classes
from retail_pipeline.inventory.settings import InventorySettings


def test_planted_revenue_shares_and_variability_give_the_classes():
    # revenue shares 50%, 25%, 12%, 7%, 4%, 2%, 0%: A = first 80% (P1..P3: the product that
    # crosses 80% is still A), B up to 95% (P4, P5 from 94%), C the rest (P6 from 98%, P7 unsold)
    shares = {"P1": 50, "P2": 25, "P3": 12, "P4": 7, "P5": 4, "P6": 2}
    days = pd.date_range("2024-01-01", periods=56, freq="D")
    rows = []
    for p, share in shares.items():
        for k, d in enumerate(days):
            # P2 sells only in alternate weeks (weekly CV = 1: class Z), the rest evenly (X)
            units = (2.0 if (k // 7) % 2 == 0 else 0.0) if p == "P2" else 1.0
            rows.append({"date": d, "shop_id": "S1", "product_id": p, "quantity": units,
                         "revenue": units * share})
    sales = pd.DataFrame(rows)
    supply = pd.DataFrame({"product_id": [*shares, "P7"], "category": "Toys",
                           "standard_price": 1.0, "service_level": [np.nan] * 5 + [0.99, np.nan]})
    classes = abc_classes(sales, supply, InventorySettings()).set_index("product_id")
    assert classes["abc_class"].to_dict() == {"P1": "A", "P2": "A", "P3": "A", "P4": "B",
                                              "P5": "B", "P6": "C", "P7": "C"}
    assert classes.loc["P1", "revenue_share"] == 0.5
    assert classes.loc["P2", "xyz_class"] == "Z" and classes.loc["P1", "xyz_class"] == "X"
    assert classes.loc["P2", "weekly_cv"] == 1.0
    assert classes["class_service_level"].to_dict()["P4"] == 0.95
    assert classes.loc["P6", "service_level"] == 0.99  # the product's own target wins
    assert classes.loc["P7", "service_level"] == 0.90


def test_revenue_falls_back_to_units_times_list_price_for_daily_totals():
    sales = pd.DataFrame({"date": pd.to_datetime(["2024-01-01"] * 2), "shop_id": "S1",
                          "product_id": ["P1", "P2"], "quantity": [10.0, 1.0],
                          "revenue": [np.nan, np.nan]})
    supply = pd.DataFrame({"product_id": ["P1", "P2"], "category": "Toys",
                           "standard_price": [1.0, 90.0], "service_level": np.nan})
    classes = abc_classes(sales, supply, InventorySettings()).set_index("product_id")
    assert classes["revenue"].to_dict() == {"P1": 10.0, "P2": 90.0}
    assert classes.loc["P2", "abc_class"] == "A"
