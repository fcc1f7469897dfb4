"""The media-mix model recovers planted truth; the same seed gives the same model."""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.marketing.allocate import ResponseCurve, allocate, bounds_for
from retail_pipeline.marketing.mmm import fit_mmm, prepare, ridge_nonneg
from retail_pipeline.marketing.settings import MMMSettings
from retail_pipeline.marketing.synthetic import synthetic_marketing
from retail_pipeline.marketing.tables import period_spend
from retail_pipeline.marketing.transforms import geometric_adstock, hill

FAST = MMMSettings(n_bootstrap=50)


@pytest.fixture(scope="module")
def planted():
    syn = synthetic_marketing(seed=2, days=1095, noise=0.01)
    return syn, fit_mmm(prepare(syn.spend, syn.outcome), FAST)


def test_synthetic_truth_is_what_the_effects_say(planted):
    syn, _ = planted
    spend = syn.spend.pivot(index="date", columns="channel", values="spend")
    for channel, t in syn.truth.items():
        x = spend[channel].to_numpy()
        effect = t["coefficient"] * hill(geometric_adstock(x, t["decay"]) * (1 - t["decay"]),
                                         t["half_saturation"], t["shape"])
        assert effect.sum() / x.sum() == pytest.approx(t["roi"])


def test_each_channel_roi_within_20_percent_of_the_truth(planted):
    syn, model = planted
    roi = model.roi().set_index("channel")
    for channel, t in syn.truth.items():
        assert roi.loc[channel, "roi"] == pytest.approx(t["roi"], rel=0.20), channel
        assert roi.loc[channel, "roi_lower"] <= roi.loc[channel, "roi"] <= roi.loc[channel, "roi_upper"]


def test_fitted_allocation_reaches_97_percent_of_the_true_optimum(planted):
    syn, model = planted
    rows = model.rows_per_period(28)
    true_curves = [ResponseCurve(c, syn.truth[c]["coefficient"], syn.truth[c]["half_saturation"],
                                 syn.truth[c]["shape"], rows) for c in model.channels]
    current, last = period_spend(model, 28, 3)
    lower, upper = bounds_for(current, 0.5, 2.0)
    total = float(last.sum())
    best = allocate(true_curves, total, current, lower, upper)
    fitted = allocate(list(model.curves(28).values()), total, current, lower, upper)
    on_truth = sum(c.response(x) for c, x in zip(true_curves, fitted.recommended, strict=True))
    assert on_truth >= 0.97 * best.response.sum()
    assert np.all(fitted.recommended >= lower) and np.all(fitted.recommended <= upper)


def test_contributions_add_up_to_the_fit(planted):
    _, model = planted
    long = model.contributions_long()
    total = long.groupby("date")["contribution"].sum().to_numpy()
    assert total == pytest.approx(model.fitted, rel=1e-9)
    assert (long[long["channel"] != "baseline"]["contribution"] >= 0).all()


def test_same_seed_same_model():
    syn = synthetic_marketing(seed=5, days=240)
    data = prepare(syn.spend, syn.outcome)
    settings = MMMSettings(n_candidates=24, n_refine=1, refine_evals=60, n_bootstrap=20, seed=9)
    a, b = fit_mmm(data, settings), fit_mmm(data, settings)
    pd.testing.assert_frame_equal(a.roi(), b.roi())
    assert np.array_equal(a.boot_coefficients, b.boot_coefficients)


def test_ridge_keeps_media_coefficients_non_negative():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(200), rng.normal(size=200), rng.random(200), rng.random(200)])
    y = 3 + 2 * X[:, 1] - 1.5 * X[:, 2] + 0.8 * X[:, 3] + rng.normal(0, 0.01, 200)
    coef = ridge_nonneg(X.T @ X, X.T @ y, X.std(axis=0), 200, -8.0, n_free=2)
    assert coef[2] == 0.0 and coef[3] > 0  # the negative media effect is cut at zero
    free = ridge_nonneg(X.T @ X, X.T @ y, X.std(axis=0), 200, -8.0, n_free=4)
    assert free == pytest.approx(np.linalg.lstsq(X, y, rcond=None)[0], abs=1e-4)


def test_weekly_spend_sums_the_daily_outcome_into_weeks():
    dates = pd.date_range("2024-01-01", periods=30 * 7, freq="D")
    outcome = pd.Series(1.0, index=dates)
    weeks = dates[::7]
    spend = pd.DataFrame({"date": weeks, "channel": "tv", "spend": 1.0})
    data = prepare(spend, outcome)
    assert data.row_days == 7 and len(data.y) == 30 and (data.y == 7.0).all()
