"""BG/NBD and Gamma-Gamma: parameters recovered from simulated customers, predictions, holdout."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.segmentation.settings import NotEnoughData, ValueSettings
from retail_pipeline.segmentation.value import (
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    holdout_validation,
    p_alive,
    rfm_summary,
    value_tables,
)

BGNBD = {"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 3.0}
GAMMA_GAMMA = {"p": 3.0, "q": 4.0, "gamma": 30.0}


def simulate_bgnbd(n, r, alpha, a, b, rng, horizon=0.0, ages=(100, 700)):
    """Customers from the BG/NBD story: Poisson purchases at rate lambda while active, dropping
    out with probability p after each repeat purchase. Returns x, t_x, T and purchases in
    (T, T + horizon]."""
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.uniform(*ages, n)
    x, t_x, later = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i] + horizon:
                break
            if t <= T[i]:
                x[i], t_x[i] = x[i] + 1, t
            else:
                later[i] += 1
            if rng.random() < p[i]:
                break
    return x, t_x, T, later


def test_bgnbd_recovers_simulated_parameters():
    rng = np.random.default_rng(1)
    n = 2000
    x, t_x, T, _ = simulate_bgnbd(n, **BGNBD, rng=rng)
    fit = fit_bgnbd(x, t_x, T)
    assert fit.converged
    se = fit.standard_errors
    # tolerance from the sample size: maximum-likelihood estimates are normal around the truth
    # with standard errors that shrink as 1/sqrt(n); the Hessian gives them for this n, and the
    # test allows four of them (a 1-in-15,000 event per parameter if the code is right). The
    # errors must also be informative: below a third of each parameter.
    for name, estimate, error in zip(fit.names, fit.params, se, strict=True):
        assert error < BGNBD[name] / 3, (name, error)
        assert abs(estimate - BGNBD[name]) < 4 * error, (name, estimate, error)


def test_gamma_gamma_recovers_simulated_parameters():
    rng = np.random.default_rng(3)
    n = 1500
    nu = rng.gamma(GAMMA_GAMMA["q"], 1 / GAMMA_GAMMA["gamma"], n)
    x = rng.integers(1, 12, n)
    m_x = np.array([rng.gamma(GAMMA_GAMMA["p"], 1 / nu[i], x[i]).mean() for i in range(n)])
    fit = fit_gamma_gamma(x, m_x)
    for name, estimate, error in zip(fit.names, fit.params, fit.standard_errors, strict=True):
        assert error < GAMMA_GAMMA[name] / 3
        assert abs(estimate - GAMMA_GAMMA[name]) < 4 * error, (name, estimate, error)


def test_conditional_expectation_matches_simulated_future():
    """Eq. (10) with the true parameters predicts the simulated next 90 days per bucket."""
    rng = np.random.default_rng(4)
    x, t_x, T, later = simulate_bgnbd(6000, **BGNBD, rng=rng, horizon=90, ages=(50, 400))
    predicted = expected_purchases(tuple(BGNBD.values()), 90, x, t_x, T)
    for bucket in (0, 1, 2, 3):
        sel = x == bucket
        # the mean of ~1,000+ counts: its standard error is their sd / sqrt(count)
        tolerance = 4 * later[sel].std() / np.sqrt(sel.sum())
        assert abs(predicted[sel].mean() - later[sel].mean()) < tolerance, bucket
    alive = p_alive(tuple(BGNBD.values()), x, t_x, T)
    assert np.all(alive[x == 0] == 1) and np.all((alive > 0) & (alive <= 1))


def _sales(rows):
    return pd.DataFrame([{"customer_id": c, "transaction_date": pd.Timestamp(d),
                          "quantity": q, "total_amount": amount} for c, d, q, amount in rows])


def test_rfm_summary_counts_purchase_days_and_nets_returns():
    sales = _sales([("A", "2024-01-01 09:00", 1, 10.0), ("A", "2024-01-01 17:00", 2, 20.0),
                    ("A", "2024-01-04", 1, 50.0), ("A", "2024-01-06", 1, 40.0),
                    ("A", "2024-01-06", -1, -40.0),  # returned the same day: no purchase
                    ("A", "2024-01-08", 1, 30.0), ("B", "2024-01-09", 1, 5.0)])
    summary = rfm_summary(sales, pd.Timestamp("2024-01-10")).set_index("customer_id")
    a = summary.loc["A"]
    assert (a["x"], a["t_x"], a["T"]) == (2, 7, 9)  # days 01, 04, 08
    assert a["m_x"] == pytest.approx((50 + 30) / 2)
    assert tuple(summary.loc["B", ["x", "t_x", "T", "m_x"]]) == (0, 0, 1, 0)


def test_holdout_validation_on_simulated_shop():
    """A shop whose customers follow BG/NBD: the model beats the naive repeat rate."""
    rng = np.random.default_rng(5)
    n, start = 1500, pd.Timestamp("2023-01-01")
    lines = []
    lam, p = rng.gamma(BGNBD["r"], 1 / BGNBD["alpha"], n), rng.beta(BGNBD["a"], BGNBD["b"], n)
    first = rng.uniform(0, 300, n)
    for i in range(n):
        t = first[i]
        lines.append((f"C{i}", start + pd.Timedelta(days=float(t)), 1, 20.0 + i % 7))
        while True:
            t += rng.exponential(1 / lam[i])
            if t > 500:
                break
            lines.append((f"C{i}", start + pd.Timedelta(days=float(t)), 1, 20.0 + i % 7))
            if rng.random() < p[i]:
                break
    sales = _sales(lines)
    end = start + pd.Timedelta(days=500)
    holdout = holdout_validation(sales, end, end - pd.Timedelta(days=120))
    assert holdout.mae_model < holdout.mae_naive
    table = holdout.per_bucket.set_index("bucket")
    assert table["customers"].sum() == len(holdout.per_customer)
    actual = holdout.per_customer.groupby("bucket")["actual"].mean()
    assert table["actual"].to_dict() == pytest.approx(actual.to_dict())
    result = value_tables(sales, ValueSettings(holdout_days=120, interval_draws=50))
    value = result.value
    assert len(value) == n and value["p_alive"].between(0, 1).all()
    assert (value["purchases_365d_lower"] <= value["purchases_365d"] + 1e-9).all()
    assert (value["purchases_365d_upper"] >= value["purchases_365d"] - 1e-9).all()
    assert (value["purchases_365d"] >= value["purchases_90d"]).all()
    assert np.allclose(value["spend_365d"], value["purchases_365d"] * value["spend_per_purchase"])
    assert result.holdout["mae_model"].iloc[0] == pytest.approx(holdout.mae_model)


def test_too_little_data_is_reported_not_invented():
    with pytest.raises(NotEnoughData):
        value_tables(_sales([("A", "2024-01-01", 1, 5.0)]), ValueSettings())
