"""Customer lifetime value: BG/NBD purchases and Gamma-Gamma spend, fitted by maximum likelihood.

Why not a library. ``lifetimes`` is unmaintained since 2020; PyMC-Marketing (the current
reference) resolves beside pandas 3 on Python 3.11 but brings PyMC, PyTensor and a compiler
toolchain (a 790 MB environment) that this project does not install. The two models are
small and classical, so they are implemented here from the papers with ``scipy``:

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while active,
  a customer buys at rate ``lambda ~ Gamma(r, alpha)``; after every purchase they drop out
  with probability ``p ~ Beta(a, b)``. The likelihood of ``(x, t_x, T)`` is their eq. (6),
  written with ``gammaln`` / ``betaln`` and combined with ``logaddexp``; the conditional
  expectation of purchases in the next ``t`` days is eq. (10) (Gauss hypergeometric
  ``hyp2f1``), and ``P(alive)`` their eq. (11).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV", appendix): the spend per purchase
  is Gamma(p, nu) with ``nu ~ Gamma(q, gamma)``; fitted on customers with repeat purchases
  and their mean repeat spend ``m_x``; the expected spend per purchase is
  ``p (gamma + x m_x) / (p x + q - 1)``.

Data. Void lines count nowhere; a purchase is a day with a positive net spend (sales minus
returns and cancellations of that day); ``x`` is the number of repeat
purchase days, ``t_x`` the days from the first to the last purchase day, ``T`` the days from
the first purchase day to the end of the period, ``m_x`` the mean net spend of the repeat
days. Time is measured in days.

Fits maximise the log-likelihood over log-parameters with L-BFGS-B. Intervals express
parameter uncertainty: the parameters are drawn from the asymptotic normal distribution of
the estimates (mean: the estimate; covariance: the inverse of the numerical Hessian of the
negative log-likelihood, on the log scale) and each customer's prediction is computed for
every draw (a simulation form of the delta method); the interval is the central
``interval`` range of those predictions. They do not include the Poisson-like noise of a
single customer's actual count.

Validation (``holdout_validation``): fit on the data before ``end - holdout_days``, predict
each calibration customer's purchases in the holdout, and compare with the actual count,
per bucket of calibration repeat purchases, next to a naive forecast that keeps the
customer's calibration repeat rate ``x / T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retail_pipeline.platform.arrays import runs
from retail_pipeline.segmentation.features import (
    CodedLines,
    by_codes,
    coded_lines,
    default_as_of,
    pair_sums,
)
from retail_pipeline.segmentation.settings import NotEnoughData, ValueSettings

BOUNDS = (-12.0, 14.0)  # log-parameter box of the optimiser
BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7+")
# every column of ``sales_features`` read here (the asset loads only these)
INPUT_COLUMNS = ["customer_id", "transaction_date", "quantity", "total_amount", "line_type",
                 "counted"]


# -- data ---------------------------------------------------------------------------------
def _daily_purchases(lines: CodedLines) -> pd.DataFrame:
    """Per customer code and day number: the net spend of the days with a positive one
    (customer, day, total_amount; sorted by customer, then day)."""
    customer, day, spend = pair_sums(lines.frame["customer"].to_numpy(),
                                     lines.frame["day"].to_numpy(), lines.frame["amount"])
    daily = pd.DataFrame({"customer": customer, "day": day, "total_amount": spend})
    return daily[daily["total_amount"] > 0]


def rfm_summary(sales: pd.DataFrame, end: pd.Timestamp, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """customer_id, x, t_x, T, m_x from the lines dated in [start, end) (see module docstring)."""
    return _summary(coded_lines(sales, end=end, start=start), end)


def _summary(lines: CodedLines, end: pd.Timestamp) -> pd.DataFrame:
    """``rfm_summary`` of coded lines (all dated before ``end``)."""
    daily, customer_ids = _daily_purchases(lines), lines.customer_ids
    if daily.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="str"),
                             **{c: pd.Series(dtype="float64") for c in ("x", "t_x", "T", "m_x")}})
    customer, day = daily["customer"].to_numpy(), daily["day"].to_numpy()
    starts, ends = runs(customer)  # daily is sorted by customer, then day
    first, last = day[starts], day[ends - 1]
    repeat = day > np.repeat(first, ends - starts)
    m_x = by_codes(daily["total_amount"][repeat], customer[repeat],
                   len(customer_ids)).mean().to_numpy()[customer[starts]]
    end_day = (end.normalize() - pd.Timestamp(0)).days
    return pd.DataFrame({
        "customer_id": customer_ids.take(customer[starts]).to_numpy(),
        "x": (ends - starts - 1).astype("float64"),
        "t_x": (last - first).astype("float64"),
        "T": (end_day - first).astype("float64"),
        "m_x": np.where(np.isnan(m_x), 0.0, m_x),  # no repeat purchase: 0
    })


def purchases_between(sales: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Purchase days (positive net spend) per customer in [start, end)."""
    return _purchase_days(coded_lines(sales, end=end, start=start))


def _purchase_days(lines: CodedLines) -> pd.Series:
    """``purchases_between`` of coded lines."""
    customer = _daily_purchases(lines)["customer"].to_numpy()
    starts, ends = runs(customer)
    return pd.Series((ends - starts).astype("float64"), name="total_amount",
                     index=lines.customer_ids.take(customer[starts]).rename("customer_id"))


# -- BG/NBD ----------------------------------------------------------------------------------
def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values and, per row, the position of its value among them."""
    return np.unique(values, return_inverse=True)


@dataclass
class _BgnbdData:
    """Customers' (x, t_x, T) prepared once per fit for eq. (6).

    Its special functions each depend on one column, and x, t_x and T are counts of days:
    a few hundred distinct values for hundreds of thousands of customers. They are
    evaluated once per distinct value and spread to the rows (the same numbers as
    evaluating them row by row, at a fraction of the cost of an optimiser's many calls).
    """

    x: np.ndarray
    weights: np.ndarray | None
    repeat: np.ndarray
    x_values: np.ndarray
    x_rows: np.ndarray
    T_values: np.ndarray
    T_rows: np.ndarray
    repeat_x_values: np.ndarray
    repeat_x_rows: np.ndarray
    repeat_t_values: np.ndarray
    repeat_t_rows: np.ndarray

    @classmethod
    def of(cls, x, t_x, T, weights=None) -> _BgnbdData:
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
        repeat = x > 0
        return cls(x, weights, repeat, *_distinct(x), *_distinct(T), *_distinct(x[repeat]),
                   *_distinct(t_x[repeat]))


def bgnbd_loglik(params, x, t_x, T, weights=None) -> float:
    """Sum of the BG/NBD log-likelihood, eq. (6) of Fader, Hardie & Lee (2005)."""
    return _bgnbd_loglik(params, _BgnbdData.of(x, t_x, T, weights))


def _bgnbd_loglik(params, data: _BgnbdData) -> float:
    from scipy.special import betaln, gammaln

    r, alpha, a, b = params
    x, repeat = data.x, data.repeat
    a1 = gammaln(r + data.x_values)[data.x_rows] - gammaln(r) + r * np.log(alpha)
    a2 = (betaln(a, b + data.x_values)[data.x_rows] - betaln(a, b)
          - (r + x) * np.log(alpha + data.T_values)[data.T_rows])
    a3 = np.full_like(x, -np.inf)
    a3[repeat] = (betaln(a + 1, b + data.repeat_x_values - 1)[data.repeat_x_rows] - betaln(a, b)
                  - (r + x[repeat]) * np.log(alpha + data.repeat_t_values)[data.repeat_t_rows])
    ll = a1 + np.logaddexp(a2, a3)
    return float(np.sum(ll if data.weights is None else ll * data.weights))


@dataclass
class _GammaGammaData:
    """Customers' (x, m_x) prepared once per fit: the terms without parameters computed once,
    the Gamma functions of ``p x`` once per distinct x (as ``_BgnbdData``)."""

    x: np.ndarray
    m: np.ndarray
    log_x: np.ndarray
    log_m: np.ndarray
    x_values: np.ndarray
    x_rows: np.ndarray

    @classmethod
    def of(cls, x, m_x) -> _GammaGammaData:
        x, m = np.asarray(x, dtype="float64"), np.asarray(m_x, dtype="float64")
        return cls(x, m, np.log(x), np.log(m), *_distinct(x))


def gamma_gamma_loglik(params, x, m_x) -> float:
    """Sum of the Gamma-Gamma log-likelihood of the mean repeat spend ``m_x`` over ``x`` purchases."""
    return _gamma_gamma_loglik(params, _GammaGammaData.of(x, m_x))


def _gamma_gamma_loglik(params, data: _GammaGammaData) -> float:
    from scipy.special import gammaln

    p, q, g = params
    x, m = data.x, data.m
    px = p * data.x_values
    ll = (gammaln(px + q)[data.x_rows] - gammaln(px)[data.x_rows] - gammaln(q) + q * np.log(g)
          + (p * x - 1) * data.log_m + p * x * data.log_x - (p * x + q) * np.log(g + m * x))
    return float(ll.sum())


@dataclass
class Fit:
    names: tuple[str, ...]
    params: np.ndarray
    """Estimates on the natural scale."""
    log_cov: np.ndarray
    """Covariance of the log-parameters (inverse Hessian of the negative log-likelihood)."""
    loglik: float
    n: int
    converged: bool
    weakly_identified: list[str]
    """Parameters at the optimiser's bounds or on a flat direction of the likelihood."""

    @property
    def standard_errors(self) -> np.ndarray:
        """Delta-method standard errors on the natural scale."""
        return self.params * np.sqrt(np.clip(np.diag(self.log_cov), 0, None))

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, map(float, self.params), strict=True))

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Parameter draws from the estimates' asymptotic normal (log scale)."""
        draws = rng.multivariate_normal(np.log(self.params), self.log_cov, n, method="eigh")
        return np.exp(np.clip(draws, *BOUNDS))


def _hessian(f, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    k = len(theta)
    h = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            def at(di, dj, i=i, j=j):
                t = theta.copy()
                t[i] += di
                t[j] += dj
                return f(t)
            h[i, j] = h[j, i] = (at(step, step) - at(step, -step) - at(-step, step)
                                 + at(-step, -step)) / (4 * step * step)
    return h


MAX_LOG_SD = 1.0  # directions known to worse than a factor e count as unidentified


def _covariance(hessian: np.ndarray, n: int) -> tuple[np.ndarray, list[int]]:
    """Covariance of the log-parameters from the Hessian of the *mean* negative log-likelihood.

    It is the inverse of ``n x hessian`` on the directions the data identifies. At a
    boundary optimum (for example no dropout at all: ``a`` -> 0) or along a flat ridge, the
    Hessian has eigenvalues that are negative, zero or so small that the log-parameters
    along them are known to worse than a factor ``e`` (standard deviation above
    ``MAX_LOG_SD``); those directions get no spread in the intervals (pseudo-inverse), and
    the parameters that load most on them are reported as weakly identified.
    """
    hessian = (hessian + hessian.T) / 2 * n
    values, vectors = np.linalg.eigh(hessian)
    keep = values > 1.0 / MAX_LOG_SD**2
    inverse = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)
    cov = (vectors * inverse) @ vectors.T
    weak = sorted({int(np.abs(vectors[:, i]).argmax()) for i in np.flatnonzero(~keep)})
    return (cov + cov.T) / 2, weak


def _fit(negloglik, start: np.ndarray, names: tuple[str, ...], n: int) -> Fit:
    """Minimise the mean negative log-likelihood over log-parameters."""
    from scipy.optimize import minimize

    result = minimize(negloglik, start, method="L-BFGS-B", bounds=[BOUNDS] * len(start))
    cov, weak = _covariance(_hessian(negloglik, result.x), n)
    at_bound = [i for i, v in enumerate(result.x) if min(v - BOUNDS[0], BOUNDS[1] - v) < 1e-3]
    return Fit(names, np.exp(result.x), cov, -float(result.fun) * n, n, bool(result.success),
               [names[i] for i in sorted(set(weak) | set(at_bound))])


def fit_bgnbd(x, t_x, T) -> Fit:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b) for days-based data."""
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    if len(x) < 2:
        raise NotEnoughData("BG/NBD needs at least two customers with purchases")
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    unique = frame.value_counts().reset_index(name="w")  # identical customers count once
    data = _BgnbdData.of(*(unique[c].to_numpy("float64") for c in ("x", "t_x", "T", "w")))
    scale = len(x)

    def negloglik(theta):
        value = -_bgnbd_loglik(np.exp(theta), data) / scale
        return value if np.isfinite(value) else 1e10

    rate = max(x.sum(), 1.0) / max(T.sum(), 1.0)
    start = np.log([1.0, 1.0 / rate, 1.0, 3.0])
    return _fit(negloglik, start, ("r", "alpha", "a", "b"), scale)


def fit_gamma_gamma(x, m_x) -> Fit:
    """Maximum-likelihood Gamma-Gamma parameters (p, q, gamma) on customers with x > 0, m_x > 0."""
    x, m = np.asarray(x, dtype="float64"), np.asarray(m_x, dtype="float64")
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < 2:
        raise NotEnoughData("Gamma-Gamma needs at least two customers with repeat purchases")
    data, scale = _GammaGammaData.of(x, m), len(x)

    def negloglik(theta):
        value = -_gamma_gamma_loglik(np.exp(theta), data) / scale
        return value if np.isfinite(value) else 1e10

    start = np.log([2.0, 3.0, float(np.mean(m))])
    return _fit(negloglik, start, ("p", "q", "gamma"), scale)


def _distinct_pairs(x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (x, T) pairs (rows) and, per customer, the row of its pair."""
    pairs, rows = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
    return pairs, rows.reshape(-1)


def expected_purchases(params, t: float, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t]] given (x, t_x, T): eq. (10) of Fader, Hardie & Lee (2005)."""
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    pairs, rows = _distinct_pairs(x, T)
    return _expected_purchases(params, t, x, t_x, T, _hypergeometric(params, t, pairs)[rows])


def _eq10_params(params) -> tuple[float, float, float, float]:
    r, alpha, a, b = params
    if abs(a - 1) < 1e-6:  # removable singularity of eq. (10) at a = 1
        a = 1 + 1e-6
    return r, alpha, a, b


def _hypergeometric(params, t: float, pairs: np.ndarray) -> np.ndarray:
    """The Gauss hypergeometric term of eq. (10) for each distinct (x, T) pair.

    It is by far the most expensive part of eq. (10) and depends on x and T only: a few
    ten thousand distinct pairs for hundreds of thousands of customers, so it is evaluated
    per pair and spread to the customers (the same numbers).
    """
    from scipy.special import hyp2f1

    r, alpha, a, b = _eq10_params(params)
    x, T = pairs[:, 0], pairs[:, 1]
    return hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))


def _expected_purchases(params, t: float, x, t_x, T, hyp: np.ndarray) -> np.ndarray:
    """Eq. (10) given each customer's hypergeometric term ``hyp``."""
    r, alpha, a, b = _eq10_params(params)
    first = (a + b + x - 1) / (a - 1)
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    return first * bracket / (1 + _dropout_odds(params, x, t_x, T))


def _dropout_odds(params, x, t_x, T) -> np.ndarray:
    """delta(x>0) a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x), computed in logs."""
    r, alpha, a, b = params
    repeat = x > 0
    safe_x = np.where(repeat, x, 1.0)
    log_odds = (np.log(a) - np.log(b + safe_x - 1)
                + (r + safe_x) * (np.log(alpha + T) - np.log(alpha + np.where(repeat, t_x, T))))
    return np.where(repeat, np.exp(np.minimum(log_odds, 700)), 0.0)


def p_alive(params, x, t_x, T) -> np.ndarray:
    """P(still active | x, t_x, T), eq. (11) of Fader, Hardie & Lee (2005)."""
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    return 1.0 / (1.0 + _dropout_odds(params, x, t_x, T))


def expected_spend_per_purchase(params, x, m_x) -> np.ndarray:
    """Gamma-Gamma conditional mean spend per purchase (population mean when x = 0)."""
    p, q, g = params
    x, m = np.asarray(x, dtype="float64"), np.asarray(m_x, dtype="float64")
    m = np.where((x > 0) & (m > 0), m, 0.0)
    x = np.where(m > 0, x, 0.0)
    return p * (g + x * m) / (p * x + q - 1)


# -- the table -----------------------------------------------------------------------------
@dataclass
class ValueModel:
    bgnbd: Fit
    gamma_gamma: Fit
    end: pd.Timestamp


VALUE_COLUMNS = ["customer_id", "x", "t_x", "T", "m_x", "p_alive", "p_alive_lower",
                 "p_alive_upper", "purchases_90d", "purchases_90d_lower", "purchases_90d_upper",
                 "purchases_365d", "purchases_365d_lower", "purchases_365d_upper",
                 "spend_per_purchase", "spend_90d", "spend_365d", "spend_365d_lower",
                 "spend_365d_upper"]


def fit_value_model(summary: pd.DataFrame, end: pd.Timestamp) -> ValueModel:
    return ValueModel(fit_bgnbd(summary["x"], summary["t_x"], summary["T"]),
                      fit_gamma_gamma(summary["x"], summary["m_x"]), end)


BLOCK = 20_000  # customers simulated at once: draws x BLOCK floats per measure (32 MB)


def customer_value(summary: pd.DataFrame, model: ValueModel, *, interval: float = 0.8,
                   draws: int = 200, seed: int = 42) -> pd.DataFrame:
    """Expected purchases (90, 365 days), P(alive), spend, with parameter-uncertainty intervals.

    The draws are simulated for ``BLOCK`` customers at a time, so memory stays bounded
    however many customers there are; each customer's interval depends only on its own
    draws, so the blocks change nothing.
    """
    x, t_x, T, m = (summary[c].to_numpy("float64") for c in ("x", "t_x", "T", "m_x"))
    bg, gg = model.bgnbd.params, model.gamma_gamma.params
    out = summary[["customer_id", "x", "t_x", "T", "m_x"]].reset_index(drop=True).copy()
    out["p_alive"] = p_alive(bg, x, t_x, T)
    out["purchases_90d"] = expected_purchases(bg, 90, x, t_x, T)
    out["purchases_365d"] = expected_purchases(bg, 365, x, t_x, T)
    out["spend_per_purchase"] = expected_spend_per_purchase(gg, x, m)
    out["spend_90d"] = out["purchases_90d"] * out["spend_per_purchase"]
    out["spend_365d"] = out["purchases_365d"] * out["spend_per_purchase"]
    rng = np.random.default_rng(seed)
    bg_draws, gg_draws = model.bgnbd.draws(draws, rng), model.gamma_gamma.draws(draws, rng)
    gg_draws = gg_draws[gg_draws[:, 1] > 1] if (gg_draws[:, 1] > 1).any() else gg_draws
    lo, hi = (1 - interval) / 2 * 100, (1 + interval) / 2 * 100
    pairs, pair_rows = _distinct_pairs(x, T)
    hyp = {t: np.vstack([_hypergeometric(params, t, pairs) for params in bg_draws])
           for t in HORIZONS}  # draws x distinct pairs
    bounds = {name: np.empty((2, len(x))) for name in SIMULATED}
    for begin in range(0, len(x), BLOCK):
        part = slice(begin, begin + BLOCK)
        sims = _simulate(bg_draws, gg_draws, x[part], t_x[part], T[part], m[part],
                         {t: table[:, pair_rows[part]] for t, table in hyp.items()})
        for name, stacked in sims.items():
            bounds[name][:, part] = _percentiles(stacked, (lo, hi))
    for name, (lower, upper) in bounds.items():
        out[f"{name}_lower"], out[f"{name}_upper"] = lower, upper
    return out[VALUE_COLUMNS]


SIMULATED = ("p_alive", "purchases_90d", "purchases_365d", "spend_365d")
HORIZONS = (90, 365)  # days of the expected purchases with intervals


def _simulate(bg_draws: np.ndarray, gg_draws: np.ndarray, x, t_x, T, m,
              hyp: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Each ``SIMULATED`` measure for every parameter draw (rows) and customer (columns);
    ``hyp[t]``: the hypergeometric term of eq. (10) per draw and customer."""
    sims = {name: np.empty((len(bg_draws), len(x))) for name in SIMULATED}
    for i, params in enumerate(bg_draws):
        sims["p_alive"][i] = p_alive(params, x, t_x, T)
        sims["purchases_90d"][i] = _expected_purchases(params, 90, x, t_x, T, hyp[90][i])
        p365 = _expected_purchases(params, 365, x, t_x, T, hyp[365][i])
        sims["purchases_365d"][i] = p365
        sims["spend_365d"][i] = p365 * expected_spend_per_purchase(
            gg_draws[i % len(gg_draws)], x, m)
    return sims


def _percentiles(stacked: np.ndarray, q: tuple[float, float]) -> np.ndarray:
    """``np.nanpercentile(stacked, q, axis=0)``, vectorised: a column without NaN goes through
    ``np.percentile`` (the same linear interpolation in one pass over all columns instead
    of one Python call per column); only columns with NaN take ``nanpercentile``."""
    result = np.percentile(stacked, q, axis=0)
    with_nan = np.isnan(stacked).any(axis=0)
    if with_nan.any():
        result[:, with_nan] = np.nanpercentile(stacked[:, with_nan], q, axis=0)
    return result


# -- validation ------------------------------------------------------------------------------
def bucket(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 7, "7+", np.clip(x, 0, 6).astype(int).astype(str))


@dataclass
class Holdout:
    per_customer: pd.DataFrame
    per_bucket: pd.DataFrame
    cutoff: pd.Timestamp
    end: pd.Timestamp
    model: ValueModel
    mae_model: float
    mae_naive: float

    @property
    def improvement(self) -> float:
        """How much lower the model's MAE is than the naive one (0.2 = 20% lower)."""
        return 1 - self.mae_model / self.mae_naive if self.mae_naive > 0 else float("nan")


def holdout_validation(sales: pd.DataFrame, end: pd.Timestamp, cutoff: pd.Timestamp,
                       lines: CodedLines | None = None) -> Holdout:
    """Fit on [.., cutoff), predict [cutoff, end), compare per customer and per bucket.

    ``lines``: ``coded_lines(sales, end=end)`` when the caller has them already.
    """
    if not cutoff < end:
        raise ValueError(f"the holdout cutoff {cutoff.date()} must precede the end {end.date()}")
    lines = coded_lines(sales, end=end) if lines is None else lines
    calibration = _summary(lines.restrict(sales, end=cutoff), cutoff)
    if len(calibration) < 2:
        raise NotEnoughData(f"fewer than two customers bought before {cutoff.date()}")
    model = fit_value_model(calibration, cutoff)
    horizon = float((end - cutoff).days)
    x, t_x, T = (calibration[c].to_numpy("float64") for c in ("x", "t_x", "T"))
    actual = (_purchase_days(lines.restrict(sales, start=cutoff))
              .reindex(calibration["customer_id"]).fillna(0.0))
    per_customer = pd.DataFrame({
        "customer_id": calibration["customer_id"].to_numpy(),
        "x": x, "bucket": bucket(x),
        "actual": actual.to_numpy(),
        "predicted": expected_purchases(model.bgnbd.params, horizon, x, t_x, T),
        "naive": np.where(T > 0, x / np.maximum(T, 1.0), 0.0) * horizon,
    })
    per_bucket = (per_customer.groupby("bucket")
                  .agg(customers=("customer_id", "size"), actual=("actual", "mean"),
                       predicted=("predicted", "mean"), naive=("naive", "mean"))
                  .reindex(list(BUCKETS)).dropna(subset=["customers"]).reset_index())
    per_bucket["customers"] = per_bucket["customers"].astype("int64")
    mae_model = float((per_customer["predicted"] - per_customer["actual"]).abs().mean())
    mae_naive = float((per_customer["naive"] - per_customer["actual"]).abs().mean())
    return Holdout(per_customer, per_bucket, cutoff, end, model, mae_model, mae_naive)


HOLDOUT_COLUMNS = ["bucket", "customers", "actual", "predicted", "naive", "holdout_start",
                   "holdout_end", "mae_model", "mae_naive"]


def holdout_table(holdout: Holdout) -> pd.DataFrame:
    """Per bucket: customers and mean actual / predicted / naive holdout purchases, with the MAEs."""
    return holdout.per_bucket.assign(
        holdout_start=str(holdout.cutoff.date()),
        holdout_end=str((holdout.end - pd.Timedelta(days=1)).date()),
        mae_model=holdout.mae_model, mae_naive=holdout.mae_naive)[HOLDOUT_COLUMNS]


@dataclass
class ValueResult:
    value: pd.DataFrame
    holdout: pd.DataFrame
    model: ValueModel
    validation: Holdout | None
    status: str


def value_tables(sales: pd.DataFrame, settings: ValueSettings) -> ValueResult:
    """The customer value table on all data and the holdout validation table.

    Raises ``NotEnoughData`` when the models cannot be fitted at all; a holdout that is
    not possible (too little history before it) leaves the validation table empty and
    says why in ``status``.
    """
    if sales.empty or sales["customer_id"].notna().sum() == 0:
        raise NotEnoughData("no sales with a customer yet")
    end = default_as_of(sales)
    lines = coded_lines(sales, end=end)  # coded once for the fit and the holdout
    summary = _summary(lines, end)
    model = fit_value_model(summary, end)
    value = customer_value(summary, model, interval=settings.interval,
                           draws=settings.interval_draws, seed=settings.seed)
    cutoff = end - pd.Timedelta(days=settings.holdout_days)
    try:
        validation = holdout_validation(sales, end, cutoff, lines)
    except NotEnoughData as exc:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in HOLDOUT_COLUMNS})
        return ValueResult(value, empty, model, None, f"holdout skipped: {exc}")
    status = (f"holdout {validation.cutoff.date()}..{end.date()}: MAE model "
              f"{validation.mae_model:.3f}, naive {validation.mae_naive:.3f}")
    return ValueResult(value, holdout_table(validation), model, validation, status)
