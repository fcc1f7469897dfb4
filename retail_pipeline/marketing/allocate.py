"""Budget allocation on fitted response curves.

A channel's *response curve* gives the expected incremental revenue of a planning period
(``rows`` days or weeks) as a function of the channel's budget for that period, spent
evenly: at a constant spend ``x`` per row the normalised adstock settles at ``x`` and each
row returns ``coefficient * hill(x; half_saturation, shape)``, so

    response(B) = rows * coefficient * hill(B / rows; half_saturation, shape)
    marginal(B) = d response / d B = coefficient * hill'(B / rows)

``allocate`` maximises the summed response for a total budget under per-channel bounds:
SLSQP from several starts (the current split, the even split inside the bounds and seeded
random splits) and an exact marginal-ROI greedy on a fine grid (optimal for concave
curves, a strong start for S-shaped ones); the best result is projected onto the bounds
and the total exactly. ``target_efficiency`` finds the budgets whose optimal split
returns at least a target ROAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from retail_pipeline.marketing.transforms import hill, hill_derivative

SAME_SPLIT_TOLERANCE = 0.01  # share of the total under which a move counts as "no change"
BOUND_TOLERANCE = 1e-6  # relative distance at which a bound counts as binding


@dataclass(frozen=True)
class ResponseCurve:
    channel: str
    coefficient: float  # most revenue per row at full saturation
    half_saturation: float  # spend per row at which the channel is half saturated
    shape: float
    rows: int  # rows (days or weeks) in the planning period

    def response(self, budget) -> np.ndarray:
        per_row = np.asarray(budget, dtype="float64") / self.rows
        return self.rows * self.coefficient * hill(per_row, self.half_saturation, self.shape)

    def marginal(self, budget) -> np.ndarray:
        per_row = np.asarray(budget, dtype="float64") / self.rows
        return self.coefficient * hill_derivative(per_row, self.half_saturation, self.shape)


@dataclass
class Allocation:
    channels: list[str]
    current: np.ndarray
    recommended: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    response: np.ndarray  # expected revenue per channel at the recommendation
    current_response: np.ndarray
    marginal: np.ndarray  # marginal ROI per channel at the recommendation
    total: float
    method: str
    notes: list[str]

    @property
    def same_as_current(self) -> bool:
        return bool(np.abs(self.recommended - self.current).sum() / 2
                    <= SAME_SPLIT_TOLERANCE * max(self.total, 1e-12))

    def binding(self) -> list[str]:
        scale = np.maximum(np.abs(self.upper), 1.0)
        out = []
        for r, lo, hi, sc in zip(self.recommended, self.lower, self.upper, scale, strict=True):
            if hi - lo <= BOUND_TOLERANCE * sc:
                out.append("fixed")
            elif r <= lo + BOUND_TOLERANCE * sc:
                out.append("lower")
            elif r >= hi - BOUND_TOLERANCE * sc:
                out.append("upper")
            else:
                out.append("")
        return out

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "channel": self.channels, "current_budget": self.current,
            "recommended_budget": self.recommended, "lower_bound": self.lower,
            "upper_bound": self.upper, "expected_revenue": self.response,
            "current_expected_revenue": self.current_response, "marginal_roi": self.marginal,
            "bound_binding": self.binding(), "total_budget": self.total})


def bounds_for(current: np.ndarray, lower_multiple: float = 0.5, upper_multiple: float = 2.0,
               amounts: dict[str, tuple[float, float]] | None = None,
               channels: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel bounds: multiples of the current spend, or amounts where given."""
    if not 0 <= lower_multiple <= upper_multiple:
        raise ValueError(f"bounds need 0 <= lower_multiple ({lower_multiple}) <= "
                         f"upper_multiple ({upper_multiple})")
    current = np.asarray(current, dtype="float64")
    lower, upper = current * lower_multiple, current * upper_multiple
    for name, (lo, hi) in (amounts or {}).items():
        if channels is None or name not in channels:
            raise ValueError(f"bounds given for unknown channel {name!r}; channels: {channels}")
        if not 0 <= lo <= hi:
            raise ValueError(f"bounds of channel {name!r} need 0 <= lower <= upper, got {lo}, {hi}")
        i = channels.index(name)
        lower[i], upper[i] = lo, hi
    return lower, upper


def _check_total(total: float, lower: np.ndarray, upper: np.ndarray, channels: list[str]) -> None:
    if total < lower.sum() * (1 - 1e-12):
        parts = ", ".join(f"{c} {lo:,.2f}" for c, lo in zip(channels, lower, strict=True))
        raise ValueError(f"total budget {total:,.2f} is below the sum of the channels' lower "
                         f"bounds {lower.sum():,.2f} ({parts}): raise the budget or lower the "
                         "bounds")
    if total > upper.sum() * (1 + 1e-12):
        parts = ", ".join(f"{c} {hi:,.2f}" for c, hi in zip(channels, upper, strict=True))
        raise ValueError(f"total budget {total:,.2f} is above the sum of the channels' upper "
                         f"bounds {upper.sum():,.2f} ({parts}): lower the budget or raise the "
                         "bounds")


def project(x: np.ndarray, total: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The point ``clip(x + t, lower, upper)`` whose sum is exactly ``total`` (bisection on t)."""
    lo_t, hi_t = (lower - x).min() - 1.0, (upper - x).max() + 1.0
    for _ in range(200):
        mid = (lo_t + hi_t) / 2
        if np.clip(x + mid, lower, upper).sum() < total:
            lo_t = mid
        else:
            hi_t = mid
    out = np.clip(x + (lo_t + hi_t) / 2, lower, upper)
    free = (out > lower) & (out < upper)
    gap = total - out.sum()  # remove the last rounding error on a free channel
    if free.any() and gap:
        i = int(np.flatnonzero(free)[np.argmax((upper - out)[free] if gap > 0 else (out - lower)[free])])
        out[i] = np.clip(out[i] + gap, lower[i], upper[i])
    return out


def _total_response(curves, x) -> float:
    return float(sum(c.response(v) for c, v in zip(curves, x, strict=True)))


def greedy(curves: list[ResponseCurve], total: float, lower: np.ndarray, upper: np.ndarray,
           steps: int = 2000) -> np.ndarray:
    """Start at the lower bounds and give each of ``steps`` slices of the free budget to the
    channel whose next slice returns most (each channel's slice gains precomputed at once)."""
    x = lower.astype("float64").copy()
    free = total - x.sum()
    if free <= 0:
        return x
    step = free / steps
    gains, taken = [], np.zeros(len(curves), dtype=int)
    for c, lo, hi in zip(curves, lower, upper, strict=True):
        n = int(np.floor((hi - lo) / step + 1e-9))
        values = c.response(lo + step * np.arange(n + 1))
        gains.append(np.diff(values))
    table = np.full((len(curves), max(len(g) for g in gains) + 1), -np.inf)
    for i, g in enumerate(gains):
        table[i, :len(g)] = g
    rows = np.arange(len(curves))
    for _ in range(steps):
        nxt = table[rows, taken]
        i = int(np.argmax(nxt))
        if not np.isfinite(nxt[i]):
            break
        taken[i] += 1
    return np.minimum(x + taken * step, upper)


def allocate(curves: list[ResponseCurve], total: float, current, lower, upper, *,
             n_starts: int = 6, seed: int = 0) -> Allocation:
    """The split of ``total`` with the highest expected revenue (see module docstring)."""
    channels = [c.channel for c in curves]
    current = np.asarray(current, dtype="float64")
    lower, upper = np.asarray(lower, dtype="float64"), np.asarray(upper, dtype="float64")
    if np.any(lower > upper):
        raise ValueError("every channel's lower bound must be at most its upper bound")
    _check_total(total, lower, upper, channels)
    scale = max(total, 1e-12)
    lo_s, hi_s = lower / scale, upper / scale

    def negative(u):
        return -_total_response(curves, u * scale) / scale

    def gradient(u):
        return -np.array([float(c.marginal(v * scale)) for c, v in zip(curves, u, strict=True)])

    rng = np.random.default_rng(seed)
    starts = [current / scale, (lo_s + hi_s) / 2, greedy(curves, total, lower, upper) / scale]
    starts += [rng.uniform(lo_s, hi_s) for _ in range(max(0, n_starts - 2))]
    candidates = {"greedy": starts[2]}
    for i, start in enumerate(starts):
        start = project(np.asarray(start), 1.0, lo_s, hi_s)
        res = minimize(negative, start, jac=lambda u: np.nan_to_num(gradient(u), neginf=-1e12),
                       method="SLSQP", bounds=list(zip(lo_s, hi_s, strict=True)),
                       constraints=[{"type": "eq", "fun": lambda u: u.sum() - 1.0,
                                     "jac": lambda u: np.ones_like(u)}],
                       options={"maxiter": 300, "ftol": 1e-12})
        candidates[f"slsqp_start{i}"] = res.x
    best_name, best_x, best_value = "", None, -np.inf
    for name, u in candidates.items():
        x = project(np.asarray(u) * scale, total, lower, upper)
        value = _total_response(curves, x)
        if best_x is None or value > best_value + 1e-9 * abs(best_value):
            best_name, best_x, best_value = name, x, value
    response = np.array([float(c.response(v)) for c, v in zip(curves, best_x, strict=True)])
    alloc = Allocation(
        channels, current, best_x, lower, upper, response,
        np.array([float(c.response(v)) for c, v in zip(curves, current, strict=True)]),
        np.array([float(c.marginal(v)) for c, v in zip(curves, best_x, strict=True)]),
        float(total), best_name, [])
    alloc.notes = explain(alloc)
    return alloc


def explain(alloc: Allocation) -> list[str]:
    """Plain sentences: unchanged split, binding bounds, expected gain."""
    notes = []
    if alloc.same_as_current:
        notes.append("The recommendation equals the current split (within 1% of the budget): "
                     "the channels' marginal ROIs are already balanced within the bounds.")
    for c, b in zip(alloc.channels, alloc.binding(), strict=True):
        if b == "fixed":
            notes.append(f"{c}: lower and upper bounds coincide, its budget is fixed.")
        elif b:
            notes.append(f"{c}: the {b} bound binds; without it the optimum would move "
                         f"{'below' if b == 'lower' else 'above'} it.")
    gain = alloc.response.sum() - alloc.current_response.sum()
    notes.append(f"Expected revenue {alloc.response.sum():,.2f} against {alloc.current_response.sum():,.2f} "
                 f"for the current split ({gain:+,.2f}).")
    return notes


@dataclass
class EfficiencyResult:
    allocation: Allocation | None
    target_roas: float
    least_budget: float | None  # the smallest budget whose optimal split reaches the target
    largest_budget: float | None  # the largest such budget (the recommendation)
    note: str


def target_efficiency(curves: list[ResponseCurve], target_roas: float, current, lower, upper,
                      *, grid: int = 40, n_starts: int = 3, seed: int = 0) -> EfficiencyResult:
    """Budgets whose optimal split returns at least ``target_roas`` per unit spent.

    Scans budgets from the sum of the lower to the sum of the upper bounds, allocating each
    optimally, then refines both ends of the range where ROAS >= target by bisection. The
    recommendation is the largest such budget (most revenue at the target efficiency);
    ``least_budget`` is the least spend that reaches the target.
    """
    lower, upper = np.asarray(lower, dtype="float64"), np.asarray(upper, dtype="float64")
    lo_total, hi_total = float(lower.sum()), float(upper.sum())
    if hi_total <= 0:
        raise ValueError("the upper bounds sum to zero: nothing to allocate")

    def roas(total: float) -> tuple[float, Allocation]:
        a = allocate(curves, total, current, lower, upper, n_starts=n_starts, seed=seed)
        return (a.response.sum() / total if total > 0 else 0.0), a

    budgets = np.linspace(max(lo_total, hi_total * 1e-3), hi_total, grid)
    values = [roas(b) for b in budgets]
    ok = [i for i, (r, _) in enumerate(values) if r >= target_roas]
    if not ok:
        best = max(r for r, _ in values)
        return EfficiencyResult(None, target_roas, None, None,
                                f"no budget within the bounds reaches ROAS {target_roas:g} "
                                f"(best {best:.3g})")

    def edge(inside: float, outside: float) -> tuple[float, Allocation]:
        a_in = roas(inside)[1]
        for _ in range(20):  # 2^-20 of the grid step
            mid = (inside + outside) / 2
            r, a = roas(mid)
            if r >= target_roas:
                inside, a_in = mid, a
            else:
                outside = mid
        return inside, a_in

    first, last = ok[0], ok[-1]
    least = budgets[first] if first == 0 else edge(budgets[first], budgets[first - 1])[0]
    if last == len(budgets) - 1:
        largest, alloc = budgets[last], values[last][1]
    else:
        largest, alloc = edge(budgets[last], budgets[last + 1])
    return EfficiencyResult(alloc, target_roas, float(least), float(largest),
                            f"budgets from {least:,.2f} to {largest:,.2f} reach ROAS "
                            f"{target_roas:g}; the recommendation spends {largest:,.2f}")
