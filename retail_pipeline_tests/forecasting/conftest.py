"""Synthetic sales with a known truth, shared by the forecasting tests.

Expected daily units of product p in shop s on day t are
``base[s] * base[p] * WEEKLY[weekday(t)] * (1 + YEARLY_AMP * sin(2 pi doy / 365.25))``
and the observed units are Poisson draws around it, so every test knows the noise-free
signal and the noise distribution exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

WEEKLY = np.array([0.75, 0.85, 0.9, 1.0, 1.1, 1.4, 1.0])  # Monday .. Sunday
YEARLY_AMP = 0.3
START = pd.Timestamp("2021-01-01")


def truth(days: pd.DatetimeIndex, shop_base: float, product_base: float) -> np.ndarray:
    yearly = 1 + YEARLY_AMP * np.sin(2 * np.pi * days.day_of_year.to_numpy() / 365.25)
    return shop_base * product_base * WEEKLY[days.day_of_week.to_numpy()] * yearly


def make_sales(n_shops: int = 2, n_products: int = 3, n_days: int = 3 * 365, seed: int = 0,
               start: pd.Timestamp = START) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(daily_sales, truth frame)``; zero-sale days have no daily_sales row."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, periods=n_days, freq="D")
    shops = {f"S{i + 1}": 4.0 + 3.0 * i for i in range(n_shops)}
    products = {f"P{j + 1}": 2.0 + 1.5 * j for j in range(n_products)}
    rows, truths = [], []
    for shop, sb in shops.items():
        for product, pb in products.items():
            lam = truth(days, sb, pb)
            y = rng.poisson(lam).astype(float)
            truths.append(pd.DataFrame({"shop_id": shop, "product_id": product, "date": days,
                                        "lam": lam}))
            sold = y > 0
            rows.append(pd.DataFrame({
                "date": days[sold], "shop_id": shop, "product_id": product,
                "quantity": y[sold], "revenue": y[sold] * 2.5,
                "transaction_count": pd.array(np.ceil(y[sold] / 2).astype(int), dtype="Int64"),
                "source": "synthetic"}))
    return pd.concat(rows, ignore_index=True), pd.concat(truths, ignore_index=True)


def future_truth(truth_frame: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Noise-free expected sales for later days, per shop x product series."""
    base = truth_frame.drop_duplicates(["shop_id", "product_id"])
    out = []
    for row in base.itertuples():
        # recover shop_base * product_base from the first day's value
        day0 = pd.DatetimeIndex([row.date])
        scale = row.lam / truth(day0, 1.0, 1.0)[0]
        out.append(pd.DataFrame({"series_id": f"shop={row.shop_id}|product={row.product_id}",
                                 "ds": days, "lam": truth(days, scale, 1.0)}))
    return pd.concat(out, ignore_index=True)


@pytest.fixture(scope="session")
def synthetic():
    return make_sales()


@pytest.fixture(scope="session")
def daily_sales(synthetic):
    return synthetic[0]
