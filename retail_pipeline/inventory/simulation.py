"""Replay the policy against demand the forecasts did not see, and the textbook shortcut.

Self-contained and fast: the forecasts and error sigmas at every review are worked out
once, a block of series at a time (:func:`review_inputs`), and shared by every replay of
the same series; each replay is one loop over days, vectorised over series, holding a
few vectors per series (never the series x days matrix). The replay's
forecaster is :func:`~retail_pipeline.inventory.policy.simple_forecast`: the mean of the
last ``window`` days times, for each year the history before the replayed weeks covers
beyond the error lookback (up to three), the past years' profile over the coming days
(52 weeks apart, same weekdays); it is recomputed at every
review from the data before that day. Its uncertainty is the root mean square of *its own*
rolling errors of the demand summed over the protection interval ``P = L + R`` (origins
in the ``lookback`` days before the review whose actuals are complete). Nothing on or
after the review day is used for a decision (a test changes later demand and checks it).

Each review (every ``R`` days from the first replayed day, before that day's demand):

- ``forecast_error`` (the policy): ``SS = z sqrt(sigma_P^2 + d^2 sigma_L^2)``, with ``z``
  allocated within each class as the policy does (``ReplaySetup.classes`` and
  ``allocation``; see ``policy.pooled_z``);
- ``no_lead_time_variance``: the same without ``d^2 sigma_L^2`` (shows the term matters);
- ``textbook``: ``SS = z x std(daily sales over the lookback) x sqrt(L)``;

all with the same forecast of the demand over ``P``: ``s = forecast + SS``,
``S = s + max(EOQ - d R, 0)``; when the inventory position (on hand + on order) is at or
below ``s`` an order brings it to ``S`` (minimum and pack applied). The order arrives
after a lead time drawn from ``round(Normal(L, sigma_L))`` (at least a day; seeded).
Demand is met from stock on hand; what cannot be met is back-ordered and served from the
next arrival (the formula's assumption) or, with ``lost_sales``, lost (a shop's reality:
the achieved service then runs above the target at low targets, because a stock-out does
not eat into the next delivery).

Scores per class: the cycle service level (share of replenishment cycles, from one arrival
to the next, without a day of unmet demand; the cycle before the first arrival is not
counted), fill rate (units met on the day / demanded), average stock on hand at the end
of the day, stock-out days, and the share of series whose own cycle service level is
below their target by more than two binomial standard errors (a class average can hide
series that are starved).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retail_pipeline.inventory.policy import (
    YEAR,
    SalesPanel,
    cumulative,
    error_origins,
    order_quantity,
    simple_forecast,
    squared_errors,
    z_value,
)

METHODS = ("forecast_error", "no_lead_time_variance", "textbook")
MAX_PROFILE_YEARS = 3
LEAD_TIME_CAP_STDS = 8
"""Drawn lead times are capped at the longest mean lead time plus this many standard
deviations (a draw beyond it has a chance below 1e-15)."""


@dataclass(frozen=True)
class ReplaySetup:
    """Per-series inputs of a replay (arrays of length n; demand n x days, dense or a panel)."""

    demand: np.ndarray | SalesPanel
    lead_time: np.ndarray
    lead_time_std: np.ndarray
    service_level: np.ndarray
    eoq: np.ndarray
    pack_size: np.ndarray
    min_order_qty: np.ndarray
    classes: np.ndarray | None = None
    """Class per series: the group whose mean service a pooled allocation meets (None: per series)."""
    allocation: str = "pooled"
    min_series_service: float = 0.5

    def panel(self) -> SalesPanel:
        """The demand as a :class:`SalesPanel` (one row per series)."""
        if isinstance(self.demand, SalesPanel):
            return self.demand
        return SalesPanel.from_matrix(self.demand)


@dataclass(frozen=True)
class ReviewInputs:
    """What every replay of one setup sees at its reviews (series x reviews), worked out
    once: the forecasts and error sigmas depend on the demand before each review only,
    not on the stock a replay holds, so the thirteen replays of :func:`policy_simulation`
    share them."""

    start: int
    """First replayed day (index into the panel's days)."""
    protection: np.ndarray
    """``P = ceil(L + R)`` days per series."""
    ahead: np.ndarray
    """The simple forecaster's demand over ``P`` days from each review."""
    sigma: np.ndarray
    """RMSE of its rolling ``P``-day errors known at each review."""
    daily_std: np.ndarray
    """Standard deviation of the daily sales over the ``lookback`` days before each review."""
    demand: np.ndarray
    """Units demanded per series over the replayed days."""
    by_day: tuple[np.ndarray, np.ndarray, np.ndarray]
    """The replayed days' sales rows (``SalesPanel.by_day``)."""


def review_inputs(setup: ReplaySetup, *, weeks: int, review: int = 7, window: int = 28,
                  lookback: int = 182, profile: int | None = None) -> ReviewInputs:
    """The forecasts, error sigmas and sales spreads at every review, a block of series at
    a time (memory stays bounded however many series there are). See :func:`replay`."""
    panel = setup.panel()
    n, total = len(panel), len(panel.days)
    start = total - 7 * weeks
    lead = np.asarray(setup.lead_time, "float64")
    protection = np.ceil(lead + review).astype(int)
    p_max = int(protection.max())
    if start - window - p_max < 28:
        raise ValueError(f"{total} days of history are too few to replay {weeks} weeks: need "
                         f"{7 * weeks + window + p_max + 28}")
    # each year of the profile needs a year before the first error origin of the first review
    years = max([k for k in range(MAX_PROFILE_YEARS + 1) if start - lookback >= k * YEAR + window],
                default=0)
    yearly = years if profile is None else int(profile)
    lookback = min(lookback, start - window - YEAR * yearly)
    days = np.arange(start, total, review)
    # every review's error origins lie in one span: the squared errors are worked out once
    # per series and origin, and each review averages its own stretch of them
    spans = [error_origins(int(day), p_max, window, lookback, yearly) for day in days]
    origins = np.arange(spans[0][0], spans[-1][-1] + 1)
    ahead, sigma, daily_std = (np.zeros((n, len(days))) for _ in range(3))
    demand = np.zeros(n)
    for part, y in panel.blocks():
        cum = cumulative(y)
        ahead[part] = simple_forecast(cum, days, protection[part], window, yearly)
        errors = squared_errors(cum, origins, protection[part], window, yearly)
        for k, (day, span) in enumerate(zip(days, spans, strict=True)):
            stretch = errors[:, span[0] - origins[0]:span[-1] - origins[0] + 1]
            sigma[part, k] = np.sqrt(np.mean(stretch, axis=1))
            daily_std[part, k] = y[:, day - lookback:day].std(axis=1)
        demand[part] = y[:, start:].sum(axis=1)
    return ReviewInputs(start, protection, ahead, sigma, daily_std, demand, panel.by_day(start))


def replay(setup: ReplaySetup, *, weeks: int, review: int = 7, window: int = 28,
           lookback: int = 182, method: str = "forecast_error", seed: int = 13,
           safety_scale: np.ndarray | float = 1.0, profile: int | None = None,
           lost_sales: bool = False, inputs: ReviewInputs | None = None) -> pd.DataFrame:
    """One row per series: cycles, stock-out cycles, demand, units met, average stock, ...

    ``safety_scale`` multiplies each series' safety stock (used to bring the textbook
    policy to a given service level for a like-for-like stock comparison). ``profile``:
    years of yearly profile in the forecaster (default: as many as the history allows, up
    to ``MAX_PROFILE_YEARS``).
    ``lost_sales``: unmet demand is lost (a shop); otherwise it is back-ordered and served
    from the next arrival (the textbook formulas' assumption).
    ``inputs``: the setup's :func:`review_inputs` for these ``weeks``, ``review``,
    ``window``, ``lookback`` and ``profile`` (worked out here when not given).

    One loop over days, vectorised over series; memory is a few vectors per series: open
    orders sit in a ring of the next days (lead times are capped at the longest mean plus
    ``LEAD_TIME_CAP_STDS`` standard deviations), replenishment cycles are scored as they close.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if inputs is None:
        inputs = review_inputs(setup, weeks=weeks, review=review, window=window,
                               lookback=lookback, profile=profile)
    panel = setup.panel()
    n, total, start = len(panel), len(panel.days), inputs.start
    lead = np.asarray(setup.lead_time, "float64")
    lead_std = np.asarray(setup.lead_time_std, "float64")
    protection = inputs.protection
    z = z_value(np.asarray(setup.service_level, "float64"))
    scale = np.broadcast_to(np.asarray(safety_scale, "float64"), (n,))
    rng = np.random.default_rng(seed)
    ring = int(np.ceil((lead + LEAD_TIME_CAP_STDS * lead_std).max())) + 2
    arrivals = np.zeros((ring, n))  # row day % ring: units arriving that day
    on_hand = None
    met_sum, stock_sum = np.zeros(n), np.zeros(n)
    orders, cycles, bad, stockout_days = (np.zeros(n, dtype=int) for _ in range(4))
    cycle_open = np.zeros(n, dtype=bool)  # an arrival started a cycle that is still running
    cycle_short = np.zeros(n, dtype=bool)  # the running cycle had a day of unmet demand
    for day in range(start, total):
        if (day - start) % review == 0:
            k = (day - start) // review
            ahead = inputs.ahead[:, k]
            mean = ahead / protection
            if method == "textbook":
                safety = z * inputs.daily_std[:, k] * np.sqrt(lead)
            else:
                sigma_p = inputs.sigma[:, k]
                lead_term = (mean * lead_std) ** 2 if method == "forecast_error" else 0.0
                sigma = np.sqrt(sigma_p**2 + lead_term)
                if setup.classes is not None and setup.allocation == "pooled":
                    safety = pooled_factors(sigma, setup) * sigma
                else:
                    safety = z * sigma
            s = ahead + safety * scale
            up_to = s + np.maximum(setup.eoq - mean * review, 0.0)
            if on_hand is None:  # the replay starts at the order-up-to level, nothing on order
                on_hand = up_to.copy()
            position = on_hand + arrivals.sum(axis=0)
            qty = order_quantity(np.where(position <= s, up_to - position, 0.0),
                                 setup.pack_size, setup.min_order_qty)
            drawn = np.maximum(np.round(lead + lead_std * rng.standard_normal(n)), 1).astype(int)
            placed = np.flatnonzero(qty > 0)
            arrivals[(day + np.minimum(drawn[placed], ring - 1)) % ring, placed] += qty[placed]
            orders[placed] += 1
        arrived = arrivals[day % ring].copy()
        arrivals[day % ring] = 0.0
        came = arrived > 0  # orders are never for 0 units
        closed = came & cycle_open
        cycles += closed
        bad += closed & cycle_short
        cycle_open |= came
        cycle_short &= ~came
        y = panel.column(inputs.by_day, day - start)
        on_hand = on_hand + arrived
        available = np.maximum(on_hand, 0.0)
        met = np.minimum(available, y)
        short = y > available + 1e-9
        cycle_short |= short
        stockout_days += short
        on_hand = on_hand - (met if lost_sales else y)
        met_sum += met
        stock_sum += np.maximum(on_hand, 0.0)
    return pd.DataFrame({"series": np.arange(n), "service_level": setup.service_level,
                         "cycles": cycles, "stockout_cycles": bad,
                         "orders": orders, "demand": inputs.demand, "met": met_sum,
                         "average_stock": stock_sum / (total - start),
                         "stockout_days": stockout_days})


def pooled_factors(sigma: np.ndarray, setup: ReplaySetup) -> np.ndarray:
    from retail_pipeline.inventory.policy import pooled_z

    return pooled_z(sigma, setup.service_level, setup.classes, setup.min_series_service)


def summarise(result: pd.DataFrame, classes: np.ndarray, targets: dict[str, float],
              policy: str) -> pd.DataFrame:
    """Per class: achieved cycle service level and fill rate against the target, stock, stock-outs."""
    frame = result.assign(abc_class=np.asarray(classes))
    # a series is short of its target when its own cycle service level is below the target
    # by more than two binomial standard errors of its number of cycles
    own = 1 - frame["stockout_cycles"] / frame["cycles"].clip(lower=1)
    margin = 2 * np.sqrt(frame["service_level"] * (1 - frame["service_level"])
                         / frame["cycles"].clip(lower=1))
    frame["short"] = ((own < frame["service_level"] - margin) & (frame["cycles"] > 0)).astype(float)
    out = frame.groupby("abc_class", as_index=False).agg(
        series_short_of_target=("short", "mean"),
        series=("series", "size"), cycles=("cycles", "sum"),
        stockout_cycles=("stockout_cycles", "sum"), demand=("demand", "sum"), met=("met", "sum"),
        average_stock=("average_stock", "sum"), stockout_days=("stockout_days", "sum"))
    out["policy"] = policy
    out["target_service_level"] = out["abc_class"].map(targets).astype("float64")
    out["cycle_service_level"] = np.where(out["cycles"] > 0,
                                          1 - out["stockout_cycles"] / out["cycles"].clip(lower=1),
                                          np.nan)
    out["fill_rate"] = np.where(out["demand"] > 0, out["met"] / out["demand"].clip(lower=1e-12), np.nan)
    return out[["policy", "abc_class", "series", "target_service_level", "cycle_service_level",
                "fill_rate", "average_stock", "cycles", "stockout_cycles", "stockout_days",
                "series_short_of_target"]]


def textbook_at_equal_service(setup: ReplaySetup, classes: np.ndarray, achieved: dict[str, float],
                              *, iterations: int = 10, **kwargs) -> tuple[pd.DataFrame, dict[str, float]]:
    """The textbook policy with its safety stock scaled per class until its cycle service
    level reaches ``achieved`` (bisection on the scale in [0, 16]); returns the last replay
    that reached it and the scale per class."""
    classes = np.asarray(classes)
    names = sorted(c for c, v in achieved.items() if np.isfinite(v))  # no cycles: no target
    low = dict.fromkeys(names, 0.0)
    high = dict.fromkeys(names, 16.0)
    best = None
    for _ in range(iterations):
        scale = {c: (low[c] + high[c]) / 2 for c in names}
        result = replay(setup, method="textbook",
                        safety_scale=np.array([scale.get(c, 1.0) for c in classes]), **kwargs)
        frame = result.assign(abc_class=classes).groupby("abc_class")[["cycles", "stockout_cycles"]].sum()
        for c in names:
            csl = 1 - frame.loc[c, "stockout_cycles"] / max(frame.loc[c, "cycles"], 1)
            if csl >= achieved[c]:
                high[c] = scale[c]
            else:
                low[c] = scale[c]
        best = result
    final = {c: high[c] for c in names}
    best = replay(setup, method="textbook",
                  safety_scale=np.array([final.get(c, 1.0) for c in classes]), **kwargs)
    return best, final


SIMULATION_COLUMNS = ["policy", "abc_class", "series", "target_service_level",
                      "cycle_service_level", "fill_rate", "average_stock", "average_stock_value",
                      "cycles", "stockout_cycles", "stockout_days", "series_short_of_target",
                      "safety_scale", "weeks", "lost_sales", "first_day", "last_day"]


def replay_setup(daily_sales: pd.DataFrame, supply: pd.DataFrame, classes: pd.DataFrame,
                 settings, window: int = 28) -> tuple[pd.DataFrame, ReplaySetup, int]:
    """The shop x product pairs to replay and their inputs.

    A pair is replayed when it sold in the year before the replayed weeks and its history
    before them is long enough for the forecaster and its errors (``window`` + protection
    interval + 28 origins); when more than ``settings.simulation_max_pairs`` pairs qualify,
    a seeded random sample of that many. Returns (keys, setup, number of pairs that
    qualified). The EOQ comes from the mean demand before the replayed weeks.
    """
    from retail_pipeline.inventory.policy import DAYS_PER_YEAR, economic_order_quantity

    panel = SalesPanel.from_daily_sales(daily_sales)
    days = panel.days
    start = len(days) - 7 * settings.simulation_weeks
    keys = panel.keys.merge(supply, on="product_id", how="left").merge(
        classes[["product_id", "abc_class", "service_level"]], on="product_id", how="left",
        suffixes=("_own", ""))
    # products not uploaded yet are not planned (see demand_over_lead_time)
    known = np.flatnonzero(keys["lead_time_days"].notna().to_numpy())
    keys = keys.iloc[known].reset_index(drop=True)
    protection = np.ceil(keys["lead_time_days"].to_numpy("float64") + settings.review_period_days)
    first_sale = np.zeros(len(keys), dtype=int)
    before = np.zeros(len(keys))
    for part, y in panel.blocks(known):
        first_sale[part] = np.argmax(y > 0, axis=1) if y.size else 0
        if start > 0:
            before[part] = y[:, max(start - 365, 0):start].sum(axis=1)
    keep = (before > 0) & (first_sale <= start - window - protection - 28)
    eligible = np.flatnonzero(keep)
    limit = settings.simulation_max_pairs
    if limit and len(eligible) > limit:  # a seeded sample of them (see simulation_max_pairs)
        rng = np.random.default_rng(settings.simulation_seed)
        keep = np.zeros(len(keys), dtype=bool)
        keep[rng.choice(eligible, limit, replace=False)] = True
    keys, panel = keys[keep].reset_index(drop=True), panel.select(known[keep])
    mean = before[keep] / min(365, max(start, 1))
    eoq = economic_order_quantity(mean * DAYS_PER_YEAR, keys["order_cost"], keys["unit_cost"],
                                  keys["holding_cost_rate"], keys["pack_size"], keys["min_order_qty"])
    setup = ReplaySetup(panel, keys["lead_time_days"].to_numpy("float64"),
                        keys["lead_time_std_days"].to_numpy("float64"),
                        keys["service_level"].to_numpy("float64"), eoq,
                        keys["pack_size"].to_numpy("float64"),
                        keys["min_order_qty"].to_numpy("float64"),
                        keys["abc_class"].astype("object").to_numpy(), settings.service_allocation,
                        settings.min_series_service)
    keys["first_day"] = days[start] if len(keys) else pd.NaT
    keys["last_day"] = days[-1] if len(keys) else pd.NaT
    return keys, setup, len(eligible)


def policy_simulation(daily_sales: pd.DataFrame, supply: pd.DataFrame, classes: pd.DataFrame,
                      settings, *, window: int = 28, lookback: int = 182) -> pd.DataFrame:
    """Per policy and class: achieved against target service, fill rate, stock, stock-outs.

    Policies: ``forecast_error`` (this module's policy), ``textbook`` (the shortcut as is)
    and ``textbook_equal_service`` (the shortcut's safety stock scaled per class until it
    reaches the service the policy achieved: the like-for-like stock comparison).
    ``attrs``: ``replayed_pairs`` of ``eligible_pairs`` (see ``simulation_max_pairs``).
    """
    keys, setup, eligible = replay_setup(daily_sales, supply, classes, settings, window)
    if keys.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in SIMULATION_COLUMNS}).astype(
            {"policy": "str", "abc_class": "str"})
    targets = settings.class_service()
    kwargs = {"weeks": settings.simulation_weeks, "review": settings.review_period_days,
              "window": window, "lookback": lookback, "seed": settings.simulation_seed,
              "lost_sales": settings.simulation_lost_sales,
              "inputs": review_inputs(setup, weeks=settings.simulation_weeks,
                                      review=settings.review_period_days, window=window,
                                      lookback=lookback)}
    classes_ = keys["abc_class"].to_numpy()
    unit_cost = keys["unit_cost"].to_numpy("float64")
    frames = []
    ours = replay(setup, method="forecast_error", **kwargs)
    summary = summarise(ours, classes_, targets,
                        "forecast_error")
    frames.append((ours, summary, 1.0))
    book = replay(setup, method="textbook", **kwargs)
    frames.append((book, summarise(book, classes_, targets, "textbook"), 1.0))
    achieved = dict(zip(summary["abc_class"], summary["cycle_service_level"], strict=True))
    equal, scales = textbook_at_equal_service(setup, classes_, achieved, **kwargs)
    frames.append((equal, summarise(equal, classes_, targets, "textbook_equal_service"), scales))
    out = []
    for result, frame, scale in frames:
        value = (result["average_stock"] * unit_cost).groupby(classes_).sum()
        frame = frame.assign(average_stock_value=frame["abc_class"].map(value).astype("float64"),
                             safety_scale=frame["abc_class"].map(scale).astype("float64")
                             if isinstance(scale, dict) else float(scale))
        out.append(frame)
    result = pd.concat(out, ignore_index=True)
    result["weeks"] = settings.simulation_weeks
    result["lost_sales"] = settings.simulation_lost_sales
    result["first_day"] = keys["first_day"].iloc[0]
    result["last_day"] = keys["last_day"].iloc[0]
    result = result[SIMULATION_COLUMNS]
    result.attrs.update(replayed_pairs=len(keys), eligible_pairs=eligible)
    return result
