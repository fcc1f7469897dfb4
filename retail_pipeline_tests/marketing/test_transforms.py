"""Adstock and Hill against values computed by hand."""

import numpy as np
import pytest

from retail_pipeline.marketing.transforms import (
    geometric_adstock,
    hill,
    hill_derivative,
    steady_state_gain,
    weibull_adstock,
    weibull_weights,
)


def test_geometric_adstock_by_hand():
    # a0 = 100; a1 = 0 + 0.5*100 = 50; a2 = 20 + 0.5*50 = 45; a3 = 0 + 22.5
    assert geometric_adstock([100, 0, 20, 0], 0.5).tolist() == [100.0, 50.0, 45.0, 22.5]
    assert geometric_adstock([3, 4], 0.0).tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="decay"):
        geometric_adstock([1.0], 1.0)


def test_constant_spend_settles_at_the_steady_state_gain():
    a = geometric_adstock(np.full(400, 10.0), 0.8)
    assert a[-1] == pytest.approx(10.0 * steady_state_gain(0.8)) == pytest.approx(50.0)


def test_weibull_adstock_by_hand():
    w = weibull_weights(shape=1.0, scale=1.0, max_lag=2)  # exponential density at 0.5, 1.5, 2.5
    raw = np.exp(-np.array([0.5, 1.5, 2.5]))
    assert w == pytest.approx(raw / raw.sum())
    out = weibull_adstock([10.0, 0.0, 0.0, 0.0], 1.0, 1.0, max_lag=2)
    assert out == pytest.approx([10 * w[0], 10 * w[1], 10 * w[2], 0.0])
    peaked = weibull_weights(shape=3.0, scale=3.0, max_lag=8)
    assert 1 <= int(np.argmax(peaked)) <= 3  # shape > 1: the effect peaks after a delay


def test_hill_by_hand():
    # k = 2, s = 2: h(2) = 1/2, h(4) = 16/(16+4) = 0.8, h(1) = 1/(1+4) = 0.2, h(0) = 0
    assert hill([0, 1, 2, 4], 2.0, 2.0) == pytest.approx([0.0, 0.2, 0.5, 0.8])
    # s = 1 (Michaelis-Menten): h(3) = 3 / (3 + 1)
    assert hill(3.0, 1.0, 1.0) == pytest.approx(0.75)


def test_hill_derivative_matches_finite_differences():
    z = np.array([0.3, 1.0, 2.5])
    h = 1e-6
    numeric = (hill(z + h, 1.2, 1.7) - hill(z - h, 1.2, 1.7)) / (2 * h)
    assert hill_derivative(z, 1.2, 1.7) == pytest.approx(numeric, rel=1e-5)
    # by hand at k = 2, s = 2, z = 2: s k^s z^(s-1) / (z^s + k^s)^2 = 2*4*2/64 = 0.25
    assert hill_derivative(2.0, 2.0, 2.0) == pytest.approx(0.25)
