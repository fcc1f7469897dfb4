"""Safety stock, reorder points, order quantities, purchase plan and budget.

The policy is a periodic review (every ``R = review_period_days``) with a reorder point
``s`` and an order-up-to level ``S`` (an (R, s, S) policy):

- protection interval ``P = L + R`` (mean lead time plus one review period): an order
  placed today is the last chance to cover demand until the order of the next review
  arrives;
- ``sigma_P``: the standard deviation of the *forecast error* of the demand summed over
  ``P`` days, from the champion's backtest errors (not the variance of raw sales: the
  forecast already explains trend and seasonality, only its error must be covered);
- lead-time variability adds ``d^2 sigma_L^2``: ``sigma = sqrt(sigma_P^2 + d^2 sigma_L^2)``,
  which for independent daily errors is the textbook ``sqrt(P sigma_D^2 + d^2 sigma_L^2)``;
- safety stock ``SS = z x sigma``; reorder point ``s = E[demand over P] + SS``. With the
  default ``pooled`` allocation the safety factors ``z`` of a class's series are chosen so
  that the class meets its cycle service target *on average* at the least total safety
  stock (:func:`pooled_z`); ``per_series`` gives every series ``z(class target)``;
- economic order quantity ``EOQ = sqrt(2 D K / (h c))`` (D yearly units, K order cost,
  h yearly holding rate, c unit cost), at least the minimum order quantity, rounded up
  to whole packs;
- order-up-to ``S = s + max(EOQ - d R, 0)``: one review's demand is ordered anyway, so
  only the EOQ beyond it is extra cycle stock (fast movers are ordered every review);
- ``reorder_now`` exactly when the inventory position (on hand + on order) is at or
  below ``s``; the recommended quantity brings the position to ``S`` (minimum and packs
  applied).

Pairs the forecast does not cover (the forecast keeps the largest series of each level)
get the simple forecaster the policy replay also uses (:func:`simple_forecast`): the mean
of the last ``recent_days`` days (times last year's profile when there is enough history),
and the root mean square of that forecaster's own rolling errors over ``P`` days.
``demand_source`` and ``sigma_source`` say which.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.special import ndtr
from scipy.stats import norm

from retail_pipeline.inventory.settings import InventorySettings

DAYS_PER_YEAR = 365.0
CLASSES = ("A", "B", "C")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- formulas (scalars or arrays)
def z_value(service_level):
    """The standard normal quantile of the cycle service level."""
    return norm.ppf(service_level)


MAX_SERIES_SERVICE = 0.9999  # a series that costs nothing to protect is not given z = infinity


def pooled_z(sigma, service_level, groups, min_service: float = 0.5) -> np.ndarray:
    """Safety factors that meet each group's mean service target at the least safety stock.

    Minimising ``sum_i z_i sigma_i`` subject to ``mean_i Phi(z_i) = target`` (one Lagrange
    multiplier per group) gives ``phi(z_i) = lambda sigma_i``: a series with a small demand
    sigma is cheap to protect and gets a higher service, one with a large sigma a lower one.
    Each ``z_i`` is kept between ``z(min_service)`` and ``z(MAX_SERIES_SERVICE)``; lambda
    is found by bisection so that the group's mean of ``Phi(z_i)`` equals its target (the
    mean of ``service_level`` over the group). Series without a finite positive sigma or
    a target keep ``z(service_level)``: they hold no safety stock either way.
    """
    sigma = np.asarray(sigma, "float64")
    target = np.asarray(service_level, "float64")
    groups = np.asarray(groups, dtype=object)
    z = z_value(target)
    low, high = z_value(min_service), z_value(MAX_SERIES_SERVICE)
    usable = np.isfinite(sigma) & (sigma > 0) & np.isfinite(target)
    for group in pd.unique(groups[usable]):
        idx = np.flatnonzero(usable & (groups == group))
        goal = float(target[idx].mean())
        log_sigma = np.log(sigma[idx]) + 0.5 * np.log(2 * np.pi)

        def factors(log_lambda: float, log_sigma: np.ndarray = log_sigma) -> np.ndarray:
            # phi(z) = lambda sigma  <=>  z = sqrt(-2 ln(lambda sigma sqrt(2 pi)))
            inner = np.minimum(log_lambda + log_sigma, 0.0)
            return np.clip(np.sqrt(-2.0 * inner), low, high)

        lo, hi = -60.0 - float(log_sigma.max()), -float(log_sigma.min())  # all at the cap .. all at 0
        for _ in range(60):  # mean service falls as lambda grows
            mid = (lo + hi) / 2
            if ndtr(factors(mid)).mean() >= goal:  # norm.cdf without its per-call overhead
                lo = mid
            else:
                hi = mid
        z[idx] = factors(lo)
    return z


def allocated_z(sigma, service_level, groups, settings: InventorySettings | None) -> np.ndarray:
    """The safety factor per series under ``settings.service_allocation``."""
    if settings is not None and settings.service_allocation == "per_series":
        return z_value(np.asarray(service_level, "float64"))
    min_service = settings.min_series_service if settings is not None else 0.5
    return pooled_z(sigma, service_level, groups, min_service)


def demand_sigma(protection_days, sigma_daily, mean_daily, lead_time_std):
    """``sqrt(P sigma_D^2 + d^2 sigma_L^2)``: demand uncertainty over the protection interval."""
    return np.sqrt(np.asarray(protection_days) * np.square(sigma_daily)
                   + np.square(mean_daily) * np.square(lead_time_std))


def safety_stock(z, protection_days, sigma_daily, mean_daily, lead_time_std=0.0):
    """``z sqrt(P sigma_D^2 + d^2 sigma_L^2)`` (``lead_time_std=0``: no lead-time variability)."""
    return np.asarray(z) * demand_sigma(protection_days, sigma_daily, mean_daily, lead_time_std)


def reorder_point(mean_daily, protection_days, safety):
    """Expected demand over the protection interval plus safety stock."""
    return np.asarray(mean_daily) * np.asarray(protection_days) + np.asarray(safety)


def order_quantity(need, pack_size, min_order_qty):
    """``need`` units raised to the minimum and rounded up to whole packs; 0 when nothing is needed."""
    need = np.asarray(need, dtype="float64")
    qty = np.maximum(need, min_order_qty)
    qty = np.ceil(np.round(qty / pack_size, 9)) * pack_size
    return np.where(need > 0, qty, 0.0)


def economic_order_quantity(yearly_demand, order_cost, unit_cost, holding_cost_rate,
                            pack_size=1.0, min_order_qty=0.0):
    """Wilson's ``sqrt(2 D K / (h c))`` with the minimum and pack size applied (0 without demand)."""
    raw = np.sqrt(2 * np.asarray(yearly_demand, dtype="float64") * order_cost
                  / (np.asarray(holding_cost_rate) * np.asarray(unit_cost)))
    return order_quantity(raw, pack_size, min_order_qty)


def days_of_cover(on_hand, mean_daily):
    """Days the stock on hand lasts at the mean daily demand (empty without demand)."""
    on_hand, mean_daily = np.asarray(on_hand, "float64"), np.asarray(mean_daily, "float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_daily > 0, on_hand / mean_daily, np.nan)


def stockout_probability(available, expected_demand, sigma):
    """``P(demand > available)`` for normal demand (a step function when ``sigma`` is 0)."""
    available = np.asarray(available, "float64")
    expected_demand = np.asarray(expected_demand, "float64")
    sigma = np.asarray(sigma, "float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = norm.sf((available - expected_demand) / np.where(sigma > 0, sigma, np.nan))
    return np.where(sigma > 0, p, (expected_demand > available).astype("float64"))


# ---------------------------------------------------------------- classes
def abc_classes(daily_sales: pd.DataFrame, supply: pd.DataFrame,
                settings: InventorySettings) -> pd.DataFrame:
    """ABC by revenue and XYZ by variability of weekly units, per product.

    Revenue over the last ``abc_window_days`` (units x standard price where the sales have
    no revenue, e.g. uploaded daily totals). A: the products making up the first
    ``abc_a_share`` of revenue, B: up to ``abc_b_share``, C: the rest and products without
    sales. XYZ: coefficient of variation of weekly units (X < ``xyz_x_cv`` <= Y <
    ``xyz_y_cv`` <= Z). ``service_level``: the product's own value if given, else its class's.
    """
    columns = ["product_id", "category", "revenue", "revenue_share", "cumulative_share",
               "abc_class", "weekly_cv", "xyz_class", "class_service_level", "service_level"]
    if supply.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c not in (
            "product_id", "category", "abc_class", "xyz_class") else "str") for c in columns})
    prices = supply.set_index("product_id")["standard_price"]
    sales = daily_sales
    if len(sales):
        last = pd.to_datetime(sales["date"]).max()
        sales = sales[pd.to_datetime(sales["date"]) > last - pd.Timedelta(days=settings.abc_window_days)]
    revenue = sales["revenue"].astype("float64") if "revenue" in sales else pd.Series(np.nan, index=sales.index)
    revenue = revenue.fillna(sales["quantity"].astype("float64") * sales["product_id"].map(prices))
    by_product = revenue.groupby(sales["product_id"].astype("str")).sum()
    out = supply[["product_id", "category"]].copy()
    out["revenue"] = out["product_id"].map(by_product).fillna(0.0).to_numpy("float64")
    out = out.sort_values(["revenue", "product_id"], ascending=[False, True], kind="stable")
    total = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total if total > 0 else 0.0
    out["cumulative_share"] = out["revenue_share"].cumsum()
    before = out["cumulative_share"] - out["revenue_share"]  # share before this product
    out["abc_class"] = np.where(
        (before < settings.abc_a_share) & (out["revenue"] > 0), "A",
        np.where((before < settings.abc_b_share) & (out["revenue"] > 0), "B", "C"))
    if len(sales):
        week = pd.to_datetime(sales["date"]).dt.to_period("W").dt.start_time
        weekly = (sales.assign(week=week).groupby(["product_id", "week"])["quantity"].sum()
                  .unstack(fill_value=0.0))
        cv = weekly.std(axis=1, ddof=0) / weekly.mean(axis=1).where(weekly.mean(axis=1) > 0)
    else:
        cv = pd.Series(dtype="float64")
    out["weekly_cv"] = out["product_id"].map(cv).astype("float64")
    out["xyz_class"] = np.where(out["weekly_cv"] < settings.xyz_x_cv, "X",
                                np.where(out["weekly_cv"] < settings.xyz_y_cv, "Y", "Z"))
    out["class_service_level"] = out["abc_class"].map(settings.class_service()).astype("float64")
    own = out["product_id"].map(supply.set_index("product_id")["service_level"])
    out["service_level"] = own.fillna(out["class_service_level"]).astype("float64")
    return out[columns].reset_index(drop=True)


# ---------------------------------------------------------------- demand over the protection interval
BLOCK_PAIRS = 4096
"""Shop x product pairs whose zero-filled daily rows are held at once (about 35 MB for
three years of days): the per-pair work runs block by block, so memory does not grow
with the number of pairs."""


class SalesPanel:
    """Daily units per shop x product: the zero-filled pairs x days matrix, held in long form.

    At 200 shops x 5,000 products and three years the dense matrix would take 9 GB;
    :meth:`block` builds the dense rows of some pairs at a time (the same values the full
    matrix holds: units of one pair and day are summed in the order of the sales rows).
    Pairs are sorted by shop, then product (``keys``); ``days`` runs from the first sale to
    the last.
    """

    def __init__(self, keys: pd.DataFrame, days: pd.DatetimeIndex, pair: np.ndarray,
                 day: np.ndarray, quantity: np.ndarray):
        order = np.argsort(pair, kind="stable")  # rows of a pair together, in their order
        self.keys, self.days = keys, days
        self.pair, self.day, self.quantity = pair[order], day[order], quantity[order]
        self.starts = np.searchsorted(self.pair, np.arange(len(keys) + 1))

    @classmethod
    def from_daily_sales(cls, daily_sales: pd.DataFrame) -> SalesPanel:
        """The panel of ``daily_sales`` (columns date, shop_id, product_id, quantity)."""
        if daily_sales.empty:
            keys = pd.DataFrame({"shop_id": pd.Series(dtype="str"),
                                 "product_id": pd.Series(dtype="str")})
            empty = np.zeros(0, dtype="int64")
            return cls(keys, pd.DatetimeIndex([]), empty, empty, np.zeros(0))
        dates = pd.to_datetime(daily_sales["date"]).dt.normalize()
        days = pd.date_range(dates.min(), dates.max(), freq="D")
        shop, shops = pd.factorize(daily_sales["shop_id"].astype("str"), sort=True)
        product, products = pd.factorize(daily_sales["product_id"].astype("str"), sort=True)
        # sorting the codes sorts the pairs by shop, then product
        pairs, pair = np.unique(shop.astype("int64") * len(products) + product, return_inverse=True)
        keys = pd.DataFrame({"shop_id": np.asarray(shops)[pairs // len(products)],
                             "product_id": np.asarray(products)[pairs % len(products)]}
                            ).astype("str")
        return cls(keys, days, pair.astype("int64"), (dates - days[0]).dt.days.to_numpy("int64"),
                   daily_sales["quantity"].to_numpy("float64"))

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> SalesPanel:
        """A panel holding a dense pairs x days matrix (pairs and days numbered from 0)."""
        matrix = np.asarray(matrix, dtype="float64")
        pair, day = np.nonzero(matrix)
        keys = pd.DataFrame({"shop_id": "", "product_id": np.arange(len(matrix)).astype("str")})
        days = pd.date_range("2000-01-01", periods=matrix.shape[1], freq="D")
        return cls(keys, days, pair.astype("int64"), day.astype("int64"), matrix[pair, day])

    def __len__(self) -> int:
        return len(self.keys)

    def _rows_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``rows``, index into the long arrays) of every sales row of ``rows``."""
        lengths = self.starts[rows + 1] - self.starts[rows]
        local = np.repeat(np.arange(len(rows)), lengths)
        offsets = np.cumsum(lengths) - lengths
        return local, np.repeat(self.starts[rows] - offsets, lengths) + np.arange(lengths.sum())

    def block(self, rows: np.ndarray, first: int = 0, last: int | None = None) -> np.ndarray:
        """Dense daily units of the pairs ``rows`` over the days ``first`` to ``last`` (excl.)."""
        rows = np.asarray(rows, dtype="int64")
        last = len(self.days) if last is None else last
        width = max(last - first, 0)
        local, at = self._rows_of(rows)
        day = self.day[at]
        inside = (day >= first) & (day < last)
        flat = local[inside] * width + day[inside] - first
        return np.bincount(flat, weights=self.quantity[at][inside],
                           minlength=len(rows) * width).reshape(len(rows), width)

    def blocks(self, rows: np.ndarray | None = None, first: int = 0, size: int | None = None):
        """``(slice into rows, dense block from day first)`` for the pairs ``rows`` (default:
        all), ``size`` (default ``BLOCK_PAIRS``) pairs at a time."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype="int64")
        size = size or BLOCK_PAIRS
        for start in range(0, len(rows), size):
            part = slice(start, min(start + size, len(rows)))
            yield part, self.block(rows[part], first)

    def select(self, rows: np.ndarray) -> SalesPanel:
        """The panel of the pairs ``rows`` only (numbered 0.. in that order)."""
        rows = np.asarray(rows, dtype="int64")
        local, at = self._rows_of(rows)
        return SalesPanel(self.keys.iloc[rows].reset_index(drop=True), self.days, local,
                          self.day[at], self.quantity[at])

    def by_day(self, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sales rows from day ``first`` on, grouped by day: (day offsets, pairs, units).

        Day ``first + k``'s rows are ``offsets[k]:offsets[k + 1]``; :meth:`column` makes
        the day's dense column from them.
        """
        at = np.flatnonzero(self.day >= first)
        order = at[np.argsort(self.day[at], kind="stable")]
        offsets = np.searchsorted(self.day[order], np.arange(first, len(self.days) + 1))
        return offsets, self.pair[order], self.quantity[order]

    def column(self, grouped: tuple[np.ndarray, np.ndarray, np.ndarray], k: int) -> np.ndarray:
        """The dense units of day ``first + k`` of :meth:`by_day`'s grouping."""
        offsets, pair, quantity = grouped
        part = slice(offsets[k], offsets[k + 1])
        return np.bincount(pair[part], weights=quantity[part], minlength=len(self))


YEAR = 364  # 52 weeks: a year earlier on the same weekdays
MIN_ORIGINS = 91  # rolling origins the simple forecaster's errors need for its yearly variant


def cumulative(matrix: np.ndarray) -> np.ndarray:
    """``cum[:, t]`` = units before day ``t`` (a leading column of zeros)."""
    cum = np.zeros((matrix.shape[0], matrix.shape[1] + 1))
    np.cumsum(matrix, axis=1, out=cum[:, 1:])
    return cum


def uses_yearly_profile(days: int, window: int, protection_max: int) -> bool:
    """Whether ``days`` of history allow the yearly variant of the simple forecaster."""
    return days >= YEAR + window + protection_max + MIN_ORIGINS


def simple_forecast(cum: np.ndarray, origins: np.ndarray, protection: np.ndarray, window: int,
                    yearly: int) -> np.ndarray:
    """The simple forecaster's demand over the ``P`` days from each origin (rows x origins).

    Made before day ``u`` from the days before it only: the mean of the last ``window`` days
    times ``P``; ``yearly`` (a number of years, 0 for none): times the ratio, pooled over
    the last ``yearly`` years (52 weeks apart, same weekdays), of the ``P`` days from the
    origin to the ``window`` days before it, which carries the yearly season and holidays
    (1 where those windows sold nothing).
    """
    origins = np.asarray(origins)
    level = (cum[:, origins] - cum[:, origins - window]) / window
    forecast = level * protection[:, None]
    if yearly:
        rows = np.arange(cum.shape[0])[:, None]
        ahead = np.zeros_like(forecast)
        before = np.zeros_like(forecast)
        for k in range(1, int(yearly) + 1):
            ago = origins - k * YEAR
            ahead += cum[rows, ago[None, :] + protection[:, None]] - cum[:, ago]
            before += (cum[:, ago] - cum[:, ago - window]) / window * protection[:, None]
        ratio = np.where(before > 0, ahead / np.where(before > 0, before, 1.0), 1.0)
        forecast = forecast * ratio
    return forecast


def error_origins(end: int, p_max: int, window: int, lookback: int, yearly: int) -> np.ndarray:
    """The rolling origins whose ``P``-day errors are known at ``end``: the ``lookback``
    days before ``end`` whose ``p_max`` following days are all before it."""
    first = max(window + YEAR * int(yearly), end - lookback)
    origins = np.arange(first, end - p_max + 1)
    if len(origins) < 2:
        raise ValueError(f"too little history for the forecast errors: need at least "
                         f"{first + p_max + 2} days, have {end}")
    return origins


def squared_errors(cum: np.ndarray, origins: np.ndarray, protection: np.ndarray, window: int,
                   yearly: int) -> np.ndarray:
    """Squared error of the simple forecaster's ``P``-day demand per row and origin."""
    rows = np.arange(cum.shape[0])[:, None]
    actual = cum[rows, origins[None, :] + protection[:, None]] - cum[:, origins]
    return (actual - simple_forecast(cum, origins, protection, window, yearly)) ** 2


def simple_forecast_sigma(cum: np.ndarray, end: int, protection: np.ndarray, window: int,
                          lookback: int, yearly: int, p_max: int | None = None) -> np.ndarray:
    """RMSE of the simple forecaster's ``P``-day demand over its rolling origins.

    Origins run over the ``lookback`` days before ``end`` whose ``P`` following days are
    all before ``end`` (only actuals known at ``end`` are used). ``protection``: ``P`` per row;
    ``p_max``: the longest ``P`` of all the rows (default: of these rows), which gives the
    origins: rows worked on block by block pass the maximum over every block.
    """
    if p_max is None:
        p_max = int(protection.max()) if len(protection) else 0
    origins = error_origins(end, p_max, window, lookback, yearly)
    return np.sqrt(np.mean(squared_errors(cum, origins, protection, window, yearly), axis=1))


def _champion(leaderboard: pd.DataFrame, level: str) -> str | None:
    if leaderboard.empty:
        return None
    rows = leaderboard[(leaderboard["scope"] == "level") & (leaderboard["level"] == level)
                       & leaderboard["champion"].astype(bool)]
    return None if rows.empty else str(rows["model"].iloc[0])


def backtest_sigma(backtest: pd.DataFrame, model: str, protection: pd.Series,
                   level: str = "shop_product") -> pd.DataFrame:
    """Per series: the champion's error std over ``P`` days from its backtest.

    ``sigma_daily``: root mean square of the daily errors ``y - yhat`` at horizons
    ``h <= P`` (all folds). Daily errors of one forecast are correlated (a level that is
    wrong stays wrong), so the ``P``-day error is ``sqrt(P) x sigma_daily x kappa`` where
    ``kappa^2`` is the pooled ratio, over every series and fold of the level, of the
    squared ``P``-day error sums to ``P x sigma_daily^2`` (1 for independent errors).
    ``protection`` maps series_id -> ``P`` days.
    """
    errors = backtest[(backtest["level"] == level) & (backtest["model"] == model)]
    errors = errors[errors["series_id"].isin(protection.index)]
    if errors.empty:
        return pd.DataFrame(columns=["series_id", "sigma_daily", "kappa", "error_horizon_days",
                                     "sigma_protection"])
    p = errors["series_id"].map(protection).to_numpy("float64")
    errors = errors.assign(e=(errors["y"] - errors["yhat"]).astype("float64"),
                           h=errors["h"].astype("int64"))
    inside = errors[errors["h"].to_numpy() <= np.ceil(p)]
    per = inside.groupby("series_id").agg(mse=("e", lambda e: float(np.mean(np.square(e)))),
                                          horizon=("h", "max"))
    per["sigma_daily"] = np.sqrt(per["mse"])
    folds = inside.groupby(["series_id", "fold"]).agg(sum_e=("e", "sum"), n=("e", "size"))
    expected = folds["n"] * folds.index.get_level_values("series_id").map(per["mse"]).to_numpy()
    kappa = float(np.sqrt(np.square(folds["sum_e"]).sum() / expected.sum())) if expected.sum() > 0 else 1.0
    per["kappa"] = kappa
    per["error_horizon_days"] = per["horizon"].astype("int64")
    p_series = per.index.map(protection).to_numpy("float64")
    per["sigma_protection"] = np.sqrt(p_series) * per["sigma_daily"] * kappa
    return per.reset_index()[["series_id", "sigma_daily", "kappa", "error_horizon_days",
                              "sigma_protection"]]


SIMPLE_NAME = {False: "moving_average", True: "moving_average_yearly"}
DEMAND_COLUMNS = ["as_of", "shop_id", "product_id", "lead_time_days", "lead_time_std_days",
                  "review_period_days", "protection_days", "mean_daily_demand",
                  "demand_over_protection", "sigma_daily_error", "sigma_protection",
                  "sigma_demand", "demand_source", "sigma_source"]


def forecast_grid(forecast: pd.DataFrame, yhat: pd.Series, on: list[str],
                  keys: pd.DataFrame) -> np.ndarray:
    """``yhat`` summed per row of ``keys`` x forecast date (dates sorted; NaN where the
    forecast has no row for the key and date).

    The same values as ``pivot_table(index=on, columns="date", aggfunc="sum")`` reindexed to
    ``keys`` (the same compensated group sum, in the order of the rows), grouped by integer
    codes instead of pandas' string keys: the forecast has a row per pair and day, 30
    million rows for a million shop x product pairs.
    """
    cell = np.zeros(len(forecast), dtype="int64")
    wanted = np.zeros(len(keys), dtype="int64")
    keyed = np.ones(len(forecast), dtype=bool)  # rows without a key are in no group
    for column in on:  # (code of the first column, of the second, ...) as one integer
        code, uniques = pd.factorize(forecast[column], sort=True)
        looked_up = pd.Index(uniques).get_indexer(keys[column])
        keyed &= code >= 0
        cell = cell * len(uniques) + code
        wanted = np.where((wanted < 0) | (looked_up < 0), -1, wanted * len(uniques) + looked_up)
    cell, series = pd.factorize(cell[keyed], sort=True)
    day, dates = pd.factorize(forecast["date"].to_numpy()[keyed], sort=True)
    cell = cell * len(dates) + day
    values = yhat.to_numpy("float64")[keyed]
    grid = np.full((len(series) + 1, len(dates)), np.nan)  # the last row: keys not forecast
    if np.bincount(cell).max() > 1:  # a key and date forecast twice: pandas' group sum
        sums = pd.Series(values).groupby(cell).sum()
        cell, values = sums.index.to_numpy(), sums.to_numpy()
    grid.flat[cell] = values
    at = np.searchsorted(series, wanted)
    found = (wanted >= 0) & (at < len(series)) & (series[np.minimum(at, len(series) - 1)] == wanted)
    return grid[np.where(found, at, len(series))]


def demand_over_lead_time(sales_forecast: pd.DataFrame, forecast_backtest: pd.DataFrame,
                          forecast_leaderboard: pd.DataFrame, daily_sales: pd.DataFrame,
                          supply: pd.DataFrame, settings: InventorySettings) -> pd.DataFrame:
    """Per shop x product: expected demand over ``P = L + R`` days and its uncertainty.

    Covers every pair with a ``shop_product`` forecast and every pair that sold in the
    last ``recent_days``. See the module docstring for the formulas and sources.
    """
    panel = SalesPanel.from_daily_sales(daily_sales)
    keys, days = panel.keys, panel.days
    fc = sales_forecast[sales_forecast["level"] == "shop_product"] if len(sales_forecast) else sales_forecast
    as_of = (pd.Timestamp(fc["date"].min()) - pd.Timedelta(days=1) if len(fc)
             else (days[-1] if len(days) else pd.NaT))
    recent = settings.recent_days
    pairs = keys.copy()
    if len(days):
        first_recent = max(len(days) - recent, 0)
        sold_recently = np.concatenate(
            [block.sum(axis=1) > 0 for _, block in panel.blocks(first=first_recent)])
        pairs = keys[sold_recently]
    if len(fc):
        pairs = pd.concat([pairs, fc[["shop_id", "product_id"]].astype("str")]).drop_duplicates()
    pairs = pairs.merge(supply[["product_id", "lead_time_days", "lead_time_std_days"]],
                        on="product_id", how="left")
    unknown = pairs["lead_time_days"].isna()
    if unknown.any():  # sales of a product nobody uploaded yet: no cost, no lead time to plan by
        log.warning("%d shop x product pairs are left out of inventory planning: their products "
                    "(e.g. %s) are not in the products table yet", int(unknown.sum()),
                    pairs.loc[unknown, "product_id"].iloc[0])
        pairs = pairs[~unknown].reset_index(drop=True)
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in DEMAND_COLUMNS}).astype(
            {"shop_id": "str", "product_id": "str", "demand_source": "str", "sigma_source": "str",
             "as_of": "datetime64[ns]"})
    review = settings.review_period_days
    pairs["review_period_days"] = float(review)
    pairs["protection_days"] = pairs["lead_time_days"] + review
    pairs["series_id"] = "shop=" + pairs["shop_id"] + "|product=" + pairs["product_id"]
    p = pairs["protection_days"].to_numpy("float64")

    # expected demand over P days from the forecast (fractional last day; beyond the
    # horizon the horizon's mean day continues)
    demand = np.full(len(pairs), np.nan)
    if len(fc):
        wide = forecast_grid(fc, fc["yhat"].astype("float64").clip(lower=0), ["series_id"], pairs)
        covered = ~np.isnan(wide).all(axis=1)
        values = np.nan_to_num(wide, nan=0.0)
        horizon = values.shape[1]
        cum = np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)
        whole = np.minimum(np.floor(p), horizon).astype(int)
        rows = np.arange(len(values))
        within = cum[rows, whole]
        mean_day = cum[:, -1] / horizon
        frac_day = np.where(whole < horizon, values[rows, np.minimum(whole, horizon - 1)], mean_day)
        extra = np.where(p > horizon, (p - horizon) * mean_day, (p - whole) * frac_day)
        demand = np.where(covered, within + extra, np.nan)
    from_forecast = ~np.isnan(demand)
    # pairs without a forecast: the simple forecaster (moving average of `recent_days`,
    # with last year's profile when there is more than a year of history)
    index = keys.assign(i=np.arange(len(keys))).set_index(["shop_id", "product_id"])["i"]
    position = pairs.set_index(["shop_id", "product_id"]).index.map(index)
    position = np.asarray(position.fillna(-1), dtype=int)
    has_sales = position >= 0
    p_int = np.ceil(p).astype(int)
    window = min(recent, len(days)) if len(days) else recent
    yearly = uses_yearly_profile(len(days), window, int(p_int.max()))

    sigma_p = np.full(len(pairs), np.nan)
    sigma_daily = np.full(len(pairs), np.nan)
    source = np.array([SIMPLE_NAME[yearly]] * len(pairs), dtype=object)
    champion = _champion(forecast_leaderboard, "shop_product")
    if champion is not None and len(forecast_backtest):
        sig = backtest_sigma(forecast_backtest, champion,
                             pairs.set_index("series_id")["protection_days"])
        found = pairs["series_id"].map(sig.set_index("series_id")["sigma_protection"]).to_numpy("float64")
        found_daily = pairs["series_id"].map(sig.set_index("series_id")["sigma_daily"]).to_numpy("float64")
        use = ~np.isnan(found) & from_forecast
        sigma_p[use], sigma_daily[use] = found[use], found_daily[use]
        source[use] = f"backtest:{champion}"
    missing = np.isnan(sigma_p)
    ma_mean = np.zeros(len(pairs))
    # the simple forecaster over the pairs with sales, a block of pairs at a time: its
    # demand for every such pair, its errors where the backtest gives no sigma
    with_sales = np.flatnonzero(has_sales)
    needs_sigma = missing[with_sales]
    if needs_sigma.any():
        p_max = int(p_int[with_sales[needs_sigma]].max())
        lookback = max(min(182, len(days) - p_max - window - (YEAR if yearly else 0)), 2)
    for part, block in panel.blocks(position[with_sales]):
        rows, cum = with_sales[part], cumulative(block)
        ahead = simple_forecast(cum, np.array([len(days)]), p_int[rows], window, yearly)[:, 0]
        ma_mean[rows] = ahead / p_int[rows]
        sigma_rows = needs_sigma[part]
        if sigma_rows.any():
            rows = rows[sigma_rows]
            sigma = simple_forecast_sigma(cum[sigma_rows], len(days), p_int[rows], window,
                                          lookback, yearly, p_max)
            sigma_p[rows] = sigma
            sigma_daily[rows] = sigma / np.sqrt(p_int[rows])
            source[rows] = SIMPLE_NAME[yearly]
    demand = np.where(from_forecast, demand, ma_mean * p)
    mean_daily = demand / p
    if missing.any():
        no_history = missing & ~has_sales  # a forecast pair that never sold: no error to measure
        sigma_p[no_history], sigma_daily[no_history] = 0.0, 0.0
        source[no_history] = "none"
    pairs["as_of"] = as_of
    pairs["mean_daily_demand"] = mean_daily
    pairs["demand_over_protection"] = demand
    pairs["sigma_daily_error"] = sigma_daily
    pairs["sigma_protection"] = sigma_p
    pairs["sigma_demand"] = np.sqrt(sigma_p**2 + (mean_daily * pairs["lead_time_std_days"]) ** 2)
    pairs["demand_source"] = np.where(from_forecast, "forecast", SIMPLE_NAME[yearly])
    pairs["sigma_source"] = source.astype(str)
    return (pairs[DEMAND_COLUMNS].sort_values(["shop_id", "product_id"], kind="stable")
            .reset_index(drop=True))


# ---------------------------------------------------------------- the report
REPORT_COLUMNS = [
    "as_of", "shop_id", "product_id", "category", "abc_class", "xyz_class", "service_level",
    "series_service_level", "z", "mean_daily_demand", "demand_over_protection", "sigma_demand", "lead_time_days",
    "lead_time_std_days", "review_period_days", "safety_stock", "reorder_point",
    "economic_order_quantity", "order_up_to", "on_hand", "on_order", "expected_arrival",
    "inventory_position",
    "days_of_cover", "days_to_next_arrival", "stockout_probability", "reorder_now",
    "recommended_qty", "unit_cost", "order_value"]


def reorder_report(demand: pd.DataFrame, classes: pd.DataFrame, supply: pd.DataFrame,
                   positions: pd.DataFrame, settings: InventorySettings | None = None) -> pd.DataFrame:
    """The safety-stock and reorder report: one row per shop x product with a stock position.

    Pairs with a stock position but no recent sales or forecast have zero demand (no
    safety stock, no order). ``stockout_probability``: chance that the stock on hand runs
    out before the next arrival (the open order's expected arrival, or one lead time for an
    order placed today). ``service_level`` is the class target; ``series_service_level`` the
    cycle service the series is given (``Phi(z)``; equal to the target with ``per_series``
    allocation, see :func:`pooled_z`).
    """
    if positions.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in REPORT_COLUMNS}).astype(
            {"shop_id": "str", "product_id": "str", "category": "str", "abc_class": "str",
             "xyz_class": "str", "reorder_now": "bool", "as_of": "datetime64[ns]"})
    r = positions.merge(demand, on=["shop_id", "product_id"], how="left")
    r = r.merge(supply, on="product_id", how="left", suffixes=("", "_supply"))
    for column in ("lead_time_days", "lead_time_std_days"):
        r[column] = r[column].fillna(r[f"{column}_supply"])
    no_demand = r["mean_daily_demand"].isna()
    for column in ("mean_daily_demand", "demand_over_protection", "sigma_demand",
                   "sigma_protection"):
        r[column] = r[column].fillna(0.0)
    review = float(demand["review_period_days"].iloc[0]) if len(demand) else np.nan
    r["review_period_days"] = r["review_period_days"].fillna(review)
    r["as_of"] = r["as_of"].fillna(demand["as_of"].iloc[0] if len(demand) else r["stock_date"].max())
    r = r.merge(classes[["product_id", "abc_class", "xyz_class", "service_level"]],
                on="product_id", how="left", suffixes=("_supply", ""))
    r["z"] = allocated_z(r["sigma_demand"].to_numpy("float64"), r["service_level"].to_numpy("float64"),
                         r["abc_class"].astype("object").to_numpy(), settings)
    r["series_service_level"] = norm.cdf(r["z"].to_numpy("float64"))
    r["safety_stock"] = r["z"] * r["sigma_demand"]
    r["reorder_point"] = r["demand_over_protection"] + r["safety_stock"]
    d = r["mean_daily_demand"].to_numpy("float64")
    r["economic_order_quantity"] = economic_order_quantity(
        d * DAYS_PER_YEAR, r["order_cost"], r["unit_cost"], r["holding_cost_rate"],
        r["pack_size"], r["min_order_qty"])
    r["order_up_to"] = r["reorder_point"] + np.maximum(
        r["economic_order_quantity"] - d * r["review_period_days"], 0.0)
    r["inventory_position"] = r["on_hand"] + r["on_order"]
    r["days_of_cover"] = days_of_cover(r["on_hand"], d)
    open_order = (r["on_order"] > 0) & r["expected_arrival"].notna()
    until_arrival = (r["expected_arrival"] - r["as_of"]).dt.days.clip(lower=0).astype("float64")
    r["days_to_next_arrival"] = np.where(open_order, until_arrival, r["lead_time_days"])
    t = r["days_to_next_arrival"].to_numpy("float64")
    p = r["protection_days"].fillna(r["lead_time_days"] + r["review_period_days"]).to_numpy("float64")
    lead_term = np.where(open_order, 0.0, d * r["lead_time_std_days"].to_numpy("float64"))
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma_t = np.sqrt(np.where(p > 0, t / p, 0.0) * r["sigma_protection"].to_numpy("float64") ** 2
                          + lead_term**2)
    r["stockout_probability"] = stockout_probability(r["on_hand"], d * t, sigma_t)
    r["reorder_now"] = (r["inventory_position"] <= r["reorder_point"]).astype(bool)
    need = np.where(r["reorder_now"], r["order_up_to"] - r["inventory_position"], 0.0)
    r["recommended_qty"] = order_quantity(need, r["pack_size"], r["min_order_qty"])
    r["order_value"] = r["recommended_qty"] * r["unit_cost"]
    r.loc[no_demand, "demand_over_protection"] = 0.0
    return (r[REPORT_COLUMNS].sort_values(["shop_id", "product_id"], kind="stable")
            .reset_index(drop=True))


# ---------------------------------------------------------------- purchase plan and budget
PLAN_COLUMNS = ["order_date", "expected_arrival", "shop_id", "product_id", "category", "kind",
                "quantity", "unit_cost", "cost"]
PROJECTION_COLUMNS = ["date", "shop_id", "product_id", "forecast", "on_hand", "arrivals",
                      "reorder_point", "inventory_position"]


def _daily_forecast(report: pd.DataFrame, sales_forecast: pd.DataFrame, horizon: int) -> np.ndarray:
    """Daily forecast per report row for ``horizon`` days; the mean daily demand where none."""
    values = np.repeat(report["mean_daily_demand"].to_numpy("float64")[:, None], horizon, axis=1)
    fc = (sales_forecast[sales_forecast["level"] == "shop_product"]
          if len(sales_forecast) else sales_forecast)
    if len(fc):
        found = forecast_grid(fc, fc["yhat"], ["shop_id", "product_id"], report)[:, :horizon]
        found = found.clip(min=0)
        values[:, :found.shape[1]] = np.where(np.isnan(found), values[:, :found.shape[1]], found)
    return values


def project_stock(report: pd.DataFrame, supply: pd.DataFrame, sales_forecast: pd.DataFrame,
                  horizon: int, *, projection: bool = True) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run the policy forward on the forecast: (orders, daily projection) over ``horizon`` days.

    ``projection=False``: the orders only (None for the projection, which has a row per
    pair and day: 30 million rows for a million pairs over a 30-day horizon).

    Day 0 is ``as_of``: the orders of the report (``reorder_now``) are placed then; open
    orders arrive at their expected arrival (one lead time when none is given); every
    review period the position is checked against the reorder point and an order up to
    the order-up-to level is placed, arriving one (mean) lead time later. Stock on hand
    never goes below zero (unmet demand is lost).
    """
    if report.empty or horizon < 1:
        return (pd.DataFrame({c: pd.Series(dtype="float64") for c in PLAN_COLUMNS}),
                pd.DataFrame({c: pd.Series(dtype="float64") for c in PROJECTION_COLUMNS}))
    r = report.merge(supply[["product_id", "pack_size", "min_order_qty"]], on="product_id", how="left")
    n = len(r)
    as_of = pd.Timestamp(r["as_of"].iloc[0])
    daily = _daily_forecast(r, sales_forecast, horizon + 1)
    lead = np.maximum(np.round(r["lead_time_days"].to_numpy("float64")), 1).astype(int)
    review = int(r["review_period_days"].iloc[0])
    arrivals = np.zeros((n, horizon + 2 + lead.max()))
    open_order = r["on_order"].to_numpy("float64")
    first_arrival = np.where((open_order > 0) & r["expected_arrival"].notna(),
                             (r["expected_arrival"] - as_of).dt.days.fillna(0).clip(lower=0),
                             lead).astype(int)
    np.add.at(arrivals, (np.arange(n), np.minimum(first_arrival, arrivals.shape[1] - 1)), open_order)
    on_hand = r["on_hand"].to_numpy("float64").copy()
    rop, up_to = r["reorder_point"].to_numpy("float64"), r["order_up_to"].to_numpy("float64")
    orders, rows = [], []  # orders: (day, pairs, quantities) per day
    for day in range(horizon + 1):
        arrived = arrivals[:, day].copy()
        on_hand += arrived
        position = on_hand + arrivals[:, day + 1:].sum(axis=1)
        if day == 0:
            qty = r["recommended_qty"].to_numpy("float64")
        elif day % review == 0:
            qty = order_quantity(np.where(position <= rop, up_to - position, 0.0),
                                 r["pack_size"].to_numpy("float64"),
                                 r["min_order_qty"].to_numpy("float64"))
        else:
            qty = np.zeros(n)
        placed = np.flatnonzero(qty > 0)
        arrivals[placed, day + lead[placed]] += qty[placed]
        position = position + qty
        orders.append((np.full(len(placed), day), placed, qty[placed]))
        on_hand = np.maximum(on_hand - daily[:, day], 0.0)
        position = position - daily[:, day]
        if projection:
            rows.append(pd.DataFrame({"date": as_of + pd.Timedelta(days=day), "i": np.arange(n),
                                      "forecast": daily[:, day], "on_hand": on_hand.copy(),
                                      "arrivals": arrived, "reorder_point": rop,
                                      "inventory_position": position}))
    days, placed, quantity = (np.concatenate(parts) for parts in zip(*orders, strict=True))
    plan = pd.DataFrame({"order_date": as_of + pd.to_timedelta(days, unit="D"),
                         "expected_arrival": as_of + pd.to_timedelta(days + lead[placed], unit="D"),
                         "i": placed, "kind": np.where(days == 0, "now", "planned"),
                         "quantity": quantity})
    for column in ("shop_id", "product_id", "category", "unit_cost"):
        plan[column] = r[column].to_numpy()[plan["i"].to_numpy(int)] if len(plan) else pd.Series(dtype="str")
    plan["unit_cost"] = plan["unit_cost"].astype("float64")
    plan["quantity"] = plan["quantity"].astype("float64")
    plan["cost"] = plan["quantity"] * plan["unit_cost"]
    plan = plan.astype({"order_date": "datetime64[ns]", "expected_arrival": "datetime64[ns]"})
    plan = (plan[PLAN_COLUMNS].sort_values(["order_date", "shop_id", "product_id"], kind="stable")
            .reset_index(drop=True))
    if not projection:
        return plan, None
    frame = pd.concat(rows, ignore_index=True)
    frame["shop_id"] = r["shop_id"].to_numpy()[frame["i"]]
    frame["product_id"] = r["product_id"].to_numpy()[frame["i"]]
    return plan, frame[PROJECTION_COLUMNS]


def purchase_budget(plan: pd.DataFrame) -> pd.DataFrame:
    """Order cost per week (starting Monday), shop and category."""
    columns = ["week", "shop_id", "category", "orders", "units", "cost"]
    if plan.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {"week": "datetime64[ns]", "shop_id": "str", "category": "str", "orders": "int64"})
    week = pd.to_datetime(plan["order_date"]).dt.to_period("W-SUN").dt.start_time
    out = (plan.assign(week=week).groupby(["week", "shop_id", "category"], as_index=False)
           .agg(orders=("quantity", "size"), units=("quantity", "sum"), cost=("cost", "sum")))
    return out[columns].astype({"week": "datetime64[ns]", "orders": "int64"})


def dashboard_metrics(products: pd.DataFrame, sales_forecast: pd.DataFrame, report: pd.DataFrame,
                      supply: pd.DataFrame, organisation: str) -> pd.DataFrame:
    """One row for the organisation.

    ``expected_stockouts_avoided``: over the pairs to reorder now, the chance of a stock-out
    within the protection interval without the order (``P(demand > position)``) minus the
    accepted risk with it (``1 - service_level``): the stock-out cycles the orders prevent.
    """
    fc = sales_forecast[sales_forecast["level"] == "product"] if len(sales_forecast) else sales_forecast
    prices = supply.set_index("product_id")["standard_price"]
    units = float(fc["yhat"].clip(lower=0).sum()) if len(fc) else 0.0
    revenue = float((fc["yhat"].clip(lower=0) * fc["product_id"].map(prices)).sum()) if len(fc) else 0.0
    now = report[report["reorder_now"]] if len(report) else report
    if len(now):
        risk = stockout_probability(now["inventory_position"], now["demand_over_protection"],
                                    now["sigma_demand"])
        avoided = float(np.clip(risk - (1 - now["service_level"].to_numpy("float64")), 0, None).sum())
    else:
        avoided = 0.0
    stock_value = float((report["on_hand"] * report["unit_cost"]).sum()) if len(report) else 0.0
    return pd.DataFrame([{
        "organisation": organisation,
        "as_of": pd.Timestamp(report["as_of"].iloc[0]) if len(report) else pd.NaT,
        "total_products": int(products["product_id"].nunique()),
        "forecast_days": int(fc["date"].nunique()) if len(fc) else 0,
        "total_forecast_units": units,
        "total_forecast_revenue": revenue,
        "products_to_reorder_now": int(now["product_id"].nunique()) if len(now) else 0,
        "pairs_to_reorder_now": len(now),
        "order_value_now": float(now["order_value"].sum()) if len(now) else 0.0,
        "stock_value": stock_value,
        "expected_stockouts_avoided": avoided,
    }]).astype({"as_of": "datetime64[ns]"})
