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

from retail_pipeline.segmentation.features import counted_lines, default_as_of
from retail_pipeline.segmentation.settings import NotEnoughData, ValueSettings

BOUNDS = (-12.0, 14.0)  # log-parameter box of the optimiser
BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7+")


# -- data ---------------------------------------------------------------------------------
def rfm_summary(sales: pd.DataFrame, end: pd.Timestamp, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """customer_id, x, t_x, T, m_x from the lines dated in [start, end) (see module docstring)."""
    lines = sales[sales["customer_id"].notna() & (sales["transaction_date"] < end)]
    if start is not None:
        lines = lines[lines["transaction_date"] >= start]
    lines = lines[counted_lines(lines)]
    daily = (lines.assign(customer_id=lines["customer_id"].astype("str"),
                          day=lines["transaction_date"].dt.normalize())
             .groupby(["customer_id", "day"], sort=True)["total_amount"].sum().reset_index())
    daily = daily[daily["total_amount"] > 0]
    if daily.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="str"),
                             **{c: pd.Series(dtype="float64") for c in ("x", "t_x", "T", "m_x")}})
    first = daily.groupby("customer_id")["day"].transform("min")
    repeat = daily[daily["day"] > first]
    per = daily.groupby("customer_id").agg(first=("day", "min"), last=("day", "max"),
                                           days=("day", "size"))
    m_x = repeat.groupby("customer_id")["total_amount"].mean()
    out = pd.DataFrame({
        "customer_id": per.index.to_numpy(),
        "x": (per["days"] - 1).to_numpy("float64"),
        "t_x": (per["last"] - per["first"]).dt.days.to_numpy("float64"),
        "T": (end.normalize() - per["first"]).dt.days.to_numpy("float64"),
        "m_x": m_x.reindex(per.index).fillna(0.0).to_numpy("float64"),
    })
    return out


def purchases_between(sales: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Purchase days (positive net spend) per customer in [start, end)."""
    lines = sales[sales["customer_id"].notna() & (sales["transaction_date"] >= start)
                  & (sales["transaction_date"] < end)]
    lines = lines[counted_lines(lines)]
    daily = (lines.assign(customer_id=lines["customer_id"].astype("str"),
                          day=lines["transaction_date"].dt.normalize())
             .groupby(["customer_id", "day"])["total_amount"].sum())
    return daily[daily > 0].groupby(level="customer_id").size().astype("float64")


# -- BG/NBD ----------------------------------------------------------------------------------
def bgnbd_loglik(params, x, t_x, T, weights=None) -> float:
    """Sum of the BG/NBD log-likelihood, eq. (6) of Fader, Hardie & Lee (2005)."""
    from scipy.special import betaln, gammaln

    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    a3 = np.full_like(x, -np.inf)
    a3[repeat] = (betaln(a + 1, b + x[repeat] - 1) - betaln(a, b)
                  - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
    ll = a1 + np.logaddexp(a2, a3)
    return float(np.sum(ll if weights is None else ll * weights))


def gamma_gamma_loglik(params, x, m_x) -> float:
    """Sum of the Gamma-Gamma log-likelihood of the mean repeat spend ``m_x`` over ``x`` purchases."""
    from scipy.special import gammaln

    p, q, g = params
    x, m = np.asarray(x, dtype="float64"), np.asarray(m_x, dtype="float64")
    ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
          + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))
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
    ux, ut, uT, w = (unique[c].to_numpy("float64") for c in ("x", "t_x", "T", "w"))
    scale = len(x)

    def negloglik(theta):
        value = -bgnbd_loglik(np.exp(theta), ux, ut, uT, w) / scale
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
    scale = len(x)

    def negloglik(theta):
        value = -gamma_gamma_loglik(np.exp(theta), x, m) / scale
        return value if np.isfinite(value) else 1e10

    start = np.log([2.0, 3.0, float(np.mean(m))])
    return _fit(negloglik, start, ("p", "q", "gamma"), scale)


def expected_purchases(params, t: float, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t]] given (x, t_x, T): eq. (10) of Fader, Hardie & Lee (2005)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = params
    if abs(a - 1) < 1e-6:  # removable singularity of eq. (10) at a = 1
        a = 1 + 1e-6
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
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


def customer_value(summary: pd.DataFrame, model: ValueModel, *, interval: float = 0.8,
                   draws: int = 200, seed: int = 42) -> pd.DataFrame:
    """Expected purchases (90, 365 days), P(alive), spend, with parameter-uncertainty intervals."""
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
    sims = {"p_alive": [], "purchases_90d": [], "purchases_365d": [], "spend_365d": []}
    for i, params in enumerate(bg_draws):
        sims["p_alive"].append(p_alive(params, x, t_x, T))
        sims["purchases_90d"].append(expected_purchases(params, 90, x, t_x, T))
        p365 = expected_purchases(params, 365, x, t_x, T)
        sims["purchases_365d"].append(p365)
        sims["spend_365d"].append(p365 * expected_spend_per_purchase(
            gg_draws[i % len(gg_draws)], x, m))
    lo, hi = (1 - interval) / 2 * 100, (1 + interval) / 2 * 100
    for name, values in sims.items():
        stacked = np.vstack(values)
        out[f"{name}_lower"] = np.nanpercentile(stacked, lo, axis=0)
        out[f"{name}_upper"] = np.nanpercentile(stacked, hi, axis=0)
    return out[VALUE_COLUMNS]


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


def holdout_validation(sales: pd.DataFrame, end: pd.Timestamp, cutoff: pd.Timestamp) -> Holdout:
    """Fit on [.., cutoff), predict [cutoff, end), compare per customer and per bucket."""
    if not cutoff < end:
        raise ValueError(f"the holdout cutoff {cutoff.date()} must precede the end {end.date()}")
    calibration = rfm_summary(sales, cutoff)
    if len(calibration) < 2:
        raise NotEnoughData(f"fewer than two customers bought before {cutoff.date()}")
    model = fit_value_model(calibration, cutoff)
    horizon = float((end - cutoff).days)
    x, t_x, T = (calibration[c].to_numpy("float64") for c in ("x", "t_x", "T"))
    actual = purchases_between(sales, cutoff, end).reindex(calibration["customer_id"]).fillna(0.0)
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
    summary = rfm_summary(sales, end)
    model = fit_value_model(summary, end)
    value = customer_value(summary, model, interval=settings.interval,
                           draws=settings.interval_draws, seed=settings.seed)
    cutoff = end - pd.Timedelta(days=settings.holdout_days)
    try:
        validation = holdout_validation(sales, end, cutoff)
    except NotEnoughData as exc:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in HOLDOUT_COLUMNS})
        return ValueResult(value, empty, model, None, f"holdout skipped: {exc}")
    status = (f"holdout {validation.cutoff.date()}..{end.date()}: MAE model "
              f"{validation.mae_model:.3f}, naive {validation.mae_naive:.3f}")
    return ValueResult(value, holdout_table(validation), model, validation, status)
