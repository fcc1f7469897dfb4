"""The budget allocator on known response curves."""

import numpy as np
import pytest

from retail_pipeline.marketing.allocate import (
    ResponseCurve,
    allocate,
    bounds_for,
    project,
    target_efficiency,
)

CURVES = [ResponseCurve("search", 900.0, 400.0, 1.2, 28),
          ResponseCurve("social", 700.0, 300.0, 2.0, 28),
          ResponseCurve("tv", 1500.0, 900.0, 2.5, 28)]
CURRENT = np.array([9_000.0, 9_000.0, 12_000.0])


def grid_optimum(curves, total, lower, upper, n=1201):
    """The best split of a dense grid over the first two channels (the third takes the rest)."""
    a = np.linspace(lower[0], upper[0], n)[:, None]
    b = np.linspace(lower[1], upper[1], n)[None, :]
    c = total - a - b
    ok = (c >= lower[2]) & (c <= upper[2])
    value = curves[0].response(a) + curves[1].response(b) + curves[2].response(np.clip(c, 0, None))
    value = np.where(ok, value, -np.inf)
    i, j = np.unravel_index(np.argmax(value), value.shape)
    return value[i, j]


def test_finds_the_grid_optimum_within_one_percent():
    lower, upper = bounds_for(CURRENT, 0.5, 2.0)
    total = CURRENT.sum()
    best = grid_optimum(CURVES, total, lower, upper)
    alloc = allocate(CURVES, total, CURRENT, lower, upper)
    assert alloc.response.sum() >= 0.99 * best
    assert alloc.response.sum() >= alloc.current_response.sum()


def test_bounds_and_total_hold_exactly_and_binding_bounds_are_reported():
    lower, upper = bounds_for(CURRENT, 0.9, 1.1)  # tight: some bound must bind
    alloc = allocate(CURVES, CURRENT.sum(), CURRENT, lower, upper)
    assert np.all(alloc.recommended >= lower) and np.all(alloc.recommended <= upper)
    assert alloc.recommended.sum() == pytest.approx(CURRENT.sum(), rel=1e-12)
    binding = alloc.binding()
    for x, lo, hi, b in zip(alloc.recommended, lower, upper, binding, strict=True):
        assert (b == "lower") == bool(np.isclose(x, lo)) and (b == "upper") == bool(np.isclose(x, hi))
    assert any(binding) and any("bound binds" in n for n in alloc.notes)


def test_amount_bounds_override_multiples():
    lower, upper = bounds_for(CURRENT, 0.5, 2.0, {"tv": (12_000.0, 12_000.0)},
                              [c.channel for c in CURVES])
    alloc = allocate(CURVES, CURRENT.sum(), CURRENT, lower, upper)
    assert alloc.recommended[2] == 12_000.0 and alloc.binding()[2] == "fixed"


def test_total_below_the_lower_bounds_is_rejected_with_a_clear_message():
    lower, upper = bounds_for(CURRENT, 0.5, 2.0)
    with pytest.raises(ValueError, match="below the sum of the channels' lower bounds 15,000.00"):
        allocate(CURVES, 14_000.0, CURRENT, lower, upper)


def test_an_optimal_current_split_is_reported_as_unchanged():
    lower, upper = bounds_for(CURRENT, 0.5, 2.0)
    best = allocate(CURVES, CURRENT.sum(), CURRENT, lower, upper).recommended
    again = allocate(CURVES, CURRENT.sum(), best, lower, upper)
    assert again.same_as_current and "equals the current split" in again.notes[0]


def test_same_seed_same_output():
    lower, upper = bounds_for(CURRENT, 0.5, 2.0)
    a = allocate(CURVES, 25_000.0, CURRENT, lower, upper, seed=3)
    b = allocate(CURVES, 25_000.0, CURRENT, lower, upper, seed=3)
    assert np.array_equal(a.recommended, b.recommended) and a.frame().equals(b.frame())


def test_project_is_exact():
    lower, upper = np.array([0.0, 1.0, 2.0]), np.array([5.0, 2.0, 9.0])
    x = project(np.array([10.0, -3.0, 4.0]), 9.0, lower, upper)
    assert x.sum() == pytest.approx(9.0) and np.all(x >= lower) and np.all(x <= upper)


def test_target_efficiency_meets_the_target_at_the_largest_budget():
    lower, upper = bounds_for(CURRENT, 0.2, 3.0)
    result = target_efficiency(CURVES, 1.0, CURRENT, lower, upper, grid=20)
    alloc = result.allocation
    assert alloc is not None
    assert alloc.response.sum() / alloc.total >= 1.0
    above = allocate(CURVES, min(upper.sum(), alloc.total * 1.02), CURRENT, lower, upper)
    assert above.response.sum() / above.total < 1.0 or alloc.total == pytest.approx(upper.sum())
    assert result.least_budget <= result.largest_budget
    unreachable = target_efficiency(CURVES, 100.0, CURRENT, lower, upper, grid=8)
    assert unreachable.allocation is None and "no budget" in unreachable.note
