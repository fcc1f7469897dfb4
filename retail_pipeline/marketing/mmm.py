"""A media-mix model: baseline plus adstocked, saturated channels, fitted as Robyn does.

The modelled outcome per row (day or week) is

    y[t] = baseline[t] + sum_c beta_c * hill(adstock(x_c, decay_c)[t] / (mean_c * gain_c); k_c, s_c)

- ``baseline``: intercept, linear trend, a yearly Fourier season (when the data span a
  year), day-of-week effects and retail peaks (Christmas, Black Friday, Easter; daily
  data) and standardised control columns, all free in sign;
- per channel ``c``: geometric adstock with decay ``decay_c`` and Hill saturation with
  half-saturation ``k_c`` (relative to the channel's average steady-state adstock
  ``mean_c * gain_c``, so ``k = 1`` saturates half at the average spend) and shape ``s_c``;
  the coefficient ``beta_c >= 0`` is the most revenue per row the channel can add.

Fitting (deterministic for a given seed; no sampling in the fit itself):

1. hyperparameters ``(decay_c, k_c, s_c)`` per channel and the ridge penalty are searched
   on a seeded Latin hypercube, and the best ``n_refine`` candidates are polished by a
   bounded Powell search;
2. every candidate is scored by time-series validation: ``n_folds`` expanding windows,
   each fitted on the rows before its validation block and scored on the block (NRMSE),
   blended with the in-sample NRMSE of the fit on all rows (``validation_weight``: the
   short validation blocks alone are noisy and let the 16-odd hyperparameters chase them);
3. for given hyperparameters the coefficients are a ridge regression with non-negative
   media coefficients (bounded least squares on the ridge-augmented system, ``bvls``);
4. intervals: a moving-block bootstrap of the residuals refits the coefficients
   ``n_bootstrap`` times with the chosen hyperparameters held fixed, so they show the
   coefficient uncertainty (not the hyperparameter uncertainty).

Outputs: fitted values, contributions per row and channel, ROI (contribution / spend)
and marginal ROI (the response curve's slope at the recent average spend), each with
bootstrap intervals, and the fitted response curves for the budget allocator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import qmc

from retail_pipeline.marketing.allocate import ResponseCurve
from retail_pipeline.marketing.settings import MMMSettings
from retail_pipeline.marketing.transforms import geometric_adstock, hill

K_RANGE = (0.2, 3.0)  # Hill half-saturation relative to the average steady-state adstock
S_RANGE = (0.8, 3.0)  # Hill shape (below 0.8 the curve near zero spend, never observed, dominates the ROI)
LOG_ALPHA_RANGE = (-6.0, -1.0)  # ridge penalty (log10) on standardised columns


@dataclass
class MMMData:
    """The aligned inputs: one row per day or week."""

    dates: pd.DatetimeIndex
    y: np.ndarray
    spend: pd.DataFrame  # rows x channels, index = dates
    controls: pd.DataFrame  # rows x controls (may have no columns)
    row_days: int  # 1 (daily) or 7 (weekly)

    @property
    def channels(self) -> list[str]:
        return [str(c) for c in self.spend.columns]


def row_days_of(dates) -> int:
    """1 for daily rows, 7 for weekly rows (the median gap between sorted dates)."""
    dates = pd.DatetimeIndex(pd.unique(pd.to_datetime(pd.Series(dates)))).sort_values()
    if len(dates) < 2:
        return 1
    gap = int(pd.Series(dates).diff().dt.days.median())
    return 7 if gap >= 7 else 1


def prepare(spend: pd.DataFrame, outcome: pd.Series, controls: pd.DataFrame | None = None
            ) -> MMMData:
    """Align long spend rows (``date, channel, spend``) with an outcome series.

    ``outcome`` is indexed by date (daily values are summed into the spend's weeks when the
    spend is weekly). Rows run over the dates both cover; a channel without a row on a date
    spent nothing. ``controls`` is indexed like the outcome.
    """
    if spend.empty:
        raise ValueError("no marketing spend rows: upload marketing_spend first")
    frame = spend.assign(date=pd.to_datetime(spend["date"]).dt.normalize())
    wide = frame.pivot_table(index="date", columns="channel", values="spend", aggfunc="sum",
                             fill_value=0.0, observed=True).sort_index()
    wide.columns = [str(c) for c in wide.columns]
    row_days = row_days_of(wide.index)
    outcome = pd.Series(outcome, dtype="float64")
    outcome.index = pd.to_datetime(outcome.index).normalize()
    outcome = outcome.groupby(level=0).sum().sort_index()
    if outcome.empty:
        raise ValueError("the outcome series is empty")
    if row_days == 1:
        dates = pd.date_range(max(wide.index[0], outcome.index[0]),
                              min(wide.index[-1], outcome.index[-1]), freq="D")
        y = outcome.reindex(dates, fill_value=0.0)
    else:  # weekly spend: the outcome summed over each spend week (or given weekly)
        dates = wide.index[(wide.index >= outcome.index[0]) & (wide.index <= outcome.index[-1])]
        if row_days_of(outcome.index) == 7:
            y = outcome.reindex(dates)
        else:
            week = np.searchsorted(dates.to_numpy(), outcome.index.to_numpy(), side="right") - 1
            y = outcome.groupby(week).sum().reindex(range(len(dates)))
            y.index = dates
    if len(dates) < 20:
        raise ValueError(f"only {len(dates)} rows where spend and outcome overlap; the model "
                         "needs at least 20")
    if y.isna().any():
        raise ValueError(f"the outcome has no value on {int(y.isna().sum())} of the spend dates")
    ctrl = pd.DataFrame(index=dates) if controls is None else (
        controls.set_axis(pd.to_datetime(controls.index).normalize()).reindex(dates)
        .astype("float64").fillna(0.0))
    return MMMData(pd.DatetimeIndex(dates), y.to_numpy("float64"),
                   wide.reindex(dates, fill_value=0.0).astype("float64"), ctrl, row_days)


def baseline_matrix(dates: pd.DatetimeIndex, controls: pd.DataFrame, row_days: int,
                    yearly_order: int) -> tuple[np.ndarray, list[str]]:
    """Intercept, trend, yearly Fourier terms, weekday effects, standardised controls."""
    n = len(dates)
    cols, names = [np.ones(n), np.linspace(0.0, 1.0, n)], ["intercept", "trend"]
    if (dates[-1] - dates[0]).days >= 365 and yearly_order > 0:
        doy = dates.dayofyear.to_numpy() / 365.25
        for k in range(1, yearly_order + 1):
            cols += [np.sin(2 * np.pi * k * doy), np.cos(2 * np.pi * k * doy)]
            names += [f"yearly_sin{k}", f"yearly_cos{k}"]
    if row_days == 1:
        weekday = dates.dayofweek.to_numpy()
        for d in range(1, 7):
            cols.append((weekday == d).astype("float64"))
            names.append(f"weekday{d}")
        for name, column in retail_peaks(dates).items():
            if column.any():
                cols.append(column)
                names.append(name)
    for c in controls.columns:
        v = controls[c].to_numpy("float64")
        sd = v.std()
        cols.append((v - v.mean()) / sd if sd > 0 else np.zeros(n))
        names.append(f"control_{c}")
    return np.column_stack(cols), names


def retail_peaks(dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """0/1 columns for the retail peaks a daily model cannot learn from a yearly wave: the
    ten days before Christmas, the closed days (25-26 December, 1 January), the Black
    Friday weekend (Friday to Monday) and the Easter run-up (Thursday to Sunday).

    Peak dates come from the forecasting calendar (``forecasting.events.peak_date``).
    """
    from retail_pipeline.forecasting.events import peak_date

    month, day = dates.month.to_numpy(), dates.day.to_numpy()
    out = {"peak_christmas_run_up": (month == 12) & (day >= 14) & (day <= 24),
           "peak_closed": ((month == 12) & ((day == 25) | (day == 26))) | ((month == 1) & (day == 1)),
           "peak_black_friday": np.zeros(len(dates), dtype=bool),
           "peak_easter": np.zeros(len(dates), dtype=bool)}
    for year in np.unique(dates.year):
        friday = peak_date("black_friday", int(year))
        out["peak_black_friday"] |= (dates >= friday) & (dates <= friday + pd.Timedelta(days=3))
        easter = peak_date("easter", int(year))
        out["peak_easter"] |= (dates >= easter - pd.Timedelta(days=3)) & (dates <= easter)
    return {k: v.astype("float64") for k, v in out.items()}


@dataclass
class ChannelFit:
    channel: str
    decay: float
    half_saturation: float  # relative to mean_spend (see module docstring)
    shape: float
    coefficient: float  # outcome units per row at full saturation
    mean_spend: float  # average spend per row over the fit

    @property
    def half_saturation_spend(self) -> float:
        """Half saturation in spend per row (positive even for a channel that never spent)."""
        return max(self.half_saturation * self.mean_spend, 1e-12)

    def curve(self, rows: int) -> ResponseCurve:
        return ResponseCurve(self.channel, self.coefficient, self.half_saturation_spend,
                             self.shape, rows)


@dataclass
class MediaMixModel:
    """A fitted model: parameters, fit, contributions and bootstrap draws."""

    channels: list[str]
    fits: dict[str, ChannelFit]
    dates: pd.DatetimeIndex
    row_days: int
    y: np.ndarray
    fitted: np.ndarray
    baseline: np.ndarray
    contributions: pd.DataFrame  # rows x channels
    spend: pd.DataFrame
    cv_nrmse: float
    log_alpha: float
    baseline_names: list[str]
    settings: MMMSettings
    boot_coefficients: np.ndarray  # n_bootstrap x channels, outcome units
    evaluations: int = 0
    extra: dict = field(default_factory=dict)

    def rows_per_period(self, period_days: int) -> int:
        return max(1, int(round(period_days / self.row_days)))

    def curves(self, period_days: int) -> dict[str, ResponseCurve]:
        rows = self.rows_per_period(period_days)
        return {c: self.fits[c].curve(rows) for c in self.channels}

    def roi(self) -> pd.DataFrame:
        """Historical ROI and marginal ROI at the average spend, with bootstrap intervals."""
        alpha = (1 - self.settings.interval) / 2
        rows = []
        for j, c in enumerate(self.channels):
            fit = self.fits[c]
            spent = float(self.spend[c].sum())
            draws = self.boot_coefficients[:, j]
            unit_sum = self.extra["unit_response_sum"][c]  # sum of hill(adstock) over rows
            unit_slope = float(ResponseCurve(c, 1.0, fit.half_saturation_spend, fit.shape,
                                             1).marginal(fit.mean_spend))
            roi_draws = draws * unit_sum / spent if spent > 0 else np.full(len(draws), np.nan)
            rows.append({
                "channel": c, "spend": spent, "contribution": fit.coefficient * unit_sum,
                "roi": fit.coefficient * unit_sum / spent if spent > 0 else np.nan,
                "roi_lower": _q(roi_draws, alpha), "roi_upper": _q(roi_draws, 1 - alpha),
                "marginal_roi": fit.coefficient * unit_slope,
                "marginal_roi_lower": _q(draws * unit_slope, alpha),
                "marginal_roi_upper": _q(draws * unit_slope, 1 - alpha),
                "decay": fit.decay, "half_saturation": fit.half_saturation_spend,
                "hill_shape": fit.shape, "coefficient": fit.coefficient,
                "mean_spend": fit.mean_spend})
        return pd.DataFrame(rows)

    def contributions_long(self) -> pd.DataFrame:
        """``date, channel, contribution`` with ``baseline`` as one more channel."""
        wide = self.contributions.assign(baseline=self.baseline)
        wide.index = self.dates
        out = wide.rename_axis("date").reset_index().melt(
            id_vars="date", var_name="channel", value_name="contribution")
        return out.sort_values(["date", "channel"], ignore_index=True)


def _q(values: np.ndarray, q: float) -> float:
    values = values[np.isfinite(values)]
    return float(np.quantile(values, q)) if len(values) else float("nan")


def _media_column(x: np.ndarray, decay: float, k_rel: float, shape: float,
                  mean_spend: float) -> np.ndarray:
    if mean_spend <= 0:
        return np.zeros(len(x))
    a = geometric_adstock(x, decay) * (1 - decay)  # in units of spend per row
    return hill(a / mean_spend, k_rel, shape)


class _Problem:
    """The fixed parts of one fit: baseline columns, spends, folds, scaling."""

    def __init__(self, data: MMMData, settings: MMMSettings):
        self.data, self.settings = data, settings
        self.B, self.baseline_names = baseline_matrix(data.dates, data.controls, data.row_days,
                                                      settings.yearly_order)
        self.x = data.spend.to_numpy().T  # channels x rows
        self.mean_spend = self.x.mean(axis=1)
        self.scale = float(np.mean(np.abs(data.y))) or 1.0
        self.ys = data.y / self.scale
        n = len(data.y)
        block = max(2, int(round(settings.holdout_share * n)))
        self.folds = [(n - i * block, n - (i - 1) * block)
                      for i in range(settings.n_folds, 0, -1) if n - i * block >= n // 2]
        self.n_channels = self.x.shape[0]
        self.evaluations = 0

    # theta = [decay_1..C, k_1..C, s_1..C, log_alpha], in the unit cube for the search
    def bounds(self) -> np.ndarray:
        c = self.n_channels
        return np.array([(0.0, self.settings.max_decay)] * c + [K_RANGE] * c + [S_RANGE] * c
                        + [LOG_ALPHA_RANGE])

    def unpack(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        b = self.bounds()
        theta = b[:, 0] + np.clip(u, 0, 1) * (b[:, 1] - b[:, 0])
        c = self.n_channels
        return theta[:c], theta[c:2 * c], theta[2 * c:3 * c], float(theta[-1])

    def media(self, decay, k, s) -> np.ndarray:
        return np.column_stack([_media_column(self.x[i], decay[i], k[i], s[i], self.mean_spend[i])
                                for i in range(self.n_channels)])

    def solve(self, X: np.ndarray, y: np.ndarray, log_alpha: float) -> np.ndarray:
        """Ridge with non-negative media coefficients (intercept unpenalised)."""
        return ridge_nonneg(X.T @ X, X.T @ y, X.std(axis=0), len(y), log_alpha,
                            self.B.shape[1])

    def objective(self, u: np.ndarray) -> float:
        self.evaluations += 1
        decay, k, s, log_alpha = self.unpack(u)
        X = np.hstack([self.B, self.media(decay, k, s)])
        errors = []
        for start, stop in self.folds:
            coef = self.solve(X[:start], self.ys[:start], log_alpha)
            resid = X[start:stop] @ coef - self.ys[start:stop]
            spread = np.ptp(self.ys[start:stop]) or 1.0
            errors.append(np.sqrt(np.mean(resid ** 2)) / spread)
        coef = self.solve(X, self.ys, log_alpha)
        fit_error = np.sqrt(np.mean((X @ coef - self.ys) ** 2)) / (np.ptp(self.ys) or 1.0)
        w = self.settings.validation_weight
        return float(w * np.mean(errors) + (1 - w) * fit_error)


def ridge_nonneg(gram: np.ndarray, xty: np.ndarray, sd: np.ndarray, n: int, log_alpha: float,
                 n_free: int) -> np.ndarray:
    """``argmin |X b - y|^2 + alpha n sum_j (sd_j b_j)^2`` with ``b_j >= 0`` for ``j >= n_free``.

    An active-set method on the normal equations (Lawson-Hanson for the constrained
    columns): drop the most negative constrained coefficient until all are >= 0, then add
    back a dropped column whose gradient says it would help, until the KKT conditions hold.
    Exact for this convex problem and, with a handful of channels, a few small solves.
    """
    p = len(xty)
    pen = 10 ** log_alpha * n * sd ** 2
    pen[0] = 0.0  # the intercept is not penalised
    G = gram + np.diag(pen) + 1e-10 * np.eye(p) * max(1.0, np.trace(gram) / p)
    active = np.ones(p, dtype=bool)
    b = np.zeros(p)
    for _ in range(4 * p):
        idx = np.flatnonzero(active)
        b = np.zeros(p)
        b[idx] = np.linalg.solve(G[np.ix_(idx, idx)], xty[idx])
        neg = [j for j in idx if j >= n_free and b[j] < 0]
        if neg:
            active[min(neg, key=lambda j: b[j])] = False
            continue
        grad = G @ b - xty  # d/db of half the objective
        out = [j for j in range(n_free, p) if not active[j] and grad[j] < -1e-12 * (1 + abs(xty[j]))]
        if not out:
            return np.where(np.arange(p) >= n_free, np.maximum(b, 0.0), b)
        active[min(out, key=lambda j: grad[j])] = True
    return np.where(np.arange(p) >= n_free, np.maximum(b, 0.0), b)


def fit_mmm(data: MMMData, settings: MMMSettings | None = None) -> MediaMixModel:
    """Search, validate, fit and bootstrap the model (see module docstring)."""
    settings = settings or MMMSettings()
    problem = _Problem(data, settings)
    if not problem.folds:
        raise ValueError("too few rows for time-series validation")
    rng = np.random.default_rng(settings.seed)
    dim = 3 * problem.n_channels + 1
    candidates = qmc.LatinHypercube(d=dim, rng=rng).random(settings.n_candidates)
    scores = np.array([problem.objective(u) for u in candidates])
    best_u, best_score = candidates[np.argmin(scores)], float(scores.min())
    for i in np.argsort(scores, kind="stable")[: settings.n_refine]:
        res = minimize(problem.objective, candidates[i], method="Powell",
                       bounds=[(0.0, 1.0)] * dim,
                       options={"maxfev": settings.refine_evals, "xtol": 1e-3, "ftol": 1e-6})
        if res.fun < best_score:
            best_u, best_score = np.clip(res.x, 0, 1), float(res.fun)
    return _final_fit(problem, best_u, best_score, rng)


def _final_fit(problem: _Problem, u: np.ndarray, score: float,
               rng: np.random.Generator) -> MediaMixModel:
    data, settings = problem.data, problem.settings
    decay, k, s, log_alpha = problem.unpack(u)
    M = problem.media(decay, k, s)
    X = np.hstack([problem.B, M])
    coef = problem.solve(X, problem.ys, log_alpha)
    nb = problem.B.shape[1]
    fitted = X @ coef
    boot = _bootstrap(problem, X, coef, fitted, log_alpha, rng)[:, nb:] * problem.scale
    beta = coef[nb:] * problem.scale
    channels = data.channels
    fits = {c: ChannelFit(c, float(decay[i]), float(k[i]), float(s[i]), float(beta[i]),
                          float(problem.mean_spend[i])) for i, c in enumerate(channels)}
    contributions = pd.DataFrame(M * beta, columns=channels, index=data.dates)
    return MediaMixModel(
        channels=channels, fits=fits, dates=data.dates, row_days=data.row_days, y=data.y,
        fitted=fitted * problem.scale, baseline=problem.B @ coef[:nb] * problem.scale,
        contributions=contributions, spend=data.spend, cv_nrmse=score, log_alpha=log_alpha,
        baseline_names=problem.baseline_names, settings=settings, boot_coefficients=boot,
        evaluations=problem.evaluations,
        extra={"baseline_coefficients": coef[:nb] * problem.scale,
               "unit_response_sum": dict(zip(channels, M.sum(axis=0).tolist(), strict=True))})


def _bootstrap(problem: _Problem, X, coef, fitted, log_alpha, rng) -> np.ndarray:
    """Coefficients refitted on fitted values plus moving blocks of the residuals."""
    n = len(fitted)
    resid = problem.ys - fitted
    block = max(2, int(round(n ** (1 / 3))))
    starts_max = n - block + 1
    draws = np.empty((problem.settings.n_bootstrap, X.shape[1]))
    for b in range(problem.settings.n_bootstrap):
        starts = rng.integers(0, starts_max, int(np.ceil(n / block)))
        idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]
        draws[b] = problem.solve(X, fitted + resid[idx], log_alpha)
    return draws


def holdout_split(data: MMMData, share: float = 0.1) -> tuple[MMMData, MMMData, int]:
    """The first ``1 - share`` of the rows and the whole data (for scoring the tail)."""
    n_test = max(1, int(round(share * len(data.y))))
    cut = len(data.y) - n_test
    train = MMMData(data.dates[:cut], data.y[:cut], data.spend.iloc[:cut],
                    data.controls.iloc[:cut], data.row_days)
    return train, data, cut


def predict(model: MediaMixModel, data: MMMData) -> np.ndarray:
    """The model's outcome on ``data`` (which extends the fitted rows): baseline terms from
    the fitted coefficients, media from each channel's transforms.

    Trend and Fourier terms are rebuilt on ``data``'s dates with the fitted rows' scaling,
    so predictions beyond the fitted range extrapolate the trend.
    """
    n_fit = len(model.dates)
    B, names = baseline_matrix(data.dates, data.controls, data.row_days,
                               model.settings.yearly_order)
    if names != model.baseline_names:
        raise ValueError("the baseline terms differ from the fitted model's")
    # rescale the trend so that it matches the fitted rows' 0..1 range
    B[:, 1] = np.arange(len(data.dates)) / max(1, n_fit - 1)
    for j, name in enumerate(names):  # controls standardised with the fitted rows' moments
        if name.startswith("control_"):
            v = data.controls[name.removeprefix("control_")].to_numpy("float64")
            ref = v[:n_fit]
            B[:, j] = (v - ref.mean()) / ref.std() if ref.std() > 0 else 0.0
    base_coef = model.extra["baseline_coefficients"]
    out = B @ base_coef
    for c in model.channels:
        fit = model.fits[c]
        out = out + fit.coefficient * _media_column(data.spend[c].to_numpy(), fit.decay,
                                                    fit.half_saturation, fit.shape, fit.mean_spend)
    return out
