"""The integer-code paths of customer features and customer value against the pandas reference.

The ``reference_*`` functions are the previous implementations (text ids, per-line pandas
groupbys on them, one ``nanpercentile`` call per customer), kept here only to check that
the paths built for ten million lines give the same tables, to the last bit, on generated
sales with every kind of line (returns, cancellations, void and uncounted lines, walk-ins,
missing categories and line types, shop ties).
"""

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.defs.segmentation import assets as segmentation_assets
from retail_pipeline.sales.features import SALE, VOID, build_sales_features, resolve_line_types
from retail_pipeline.segmentation import features, value
from retail_pipeline_tests.conftest import typed_tables


# -- reference implementations ------------------------------------------------------------
def reference_counted(lines):
    keep = (resolve_line_types(lines) != VOID).to_numpy()
    if "counted" in lines.columns:
        keep = keep & lines["counted"].fillna(False).astype("bool").to_numpy()
    return keep


def reference_category_shares(lines, bought, top):
    if top <= 0:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    purchases = lines[bought]
    category = purchases["category"].astype("str").where(purchases["category"].notna(), "unknown")
    spend = purchases["total_amount"].astype("float64")
    ranking = spend.groupby(category).sum().sort_values(ascending=False, kind="stable")
    keep = list(ranking.index[:top])
    label = category.where(category.isin(keep), "other")
    table = (spend.groupby([purchases["customer_id"].astype("str"), label]).sum()
             .unstack(fill_value=0.0))
    columns = [*keep, "other"]
    table = table.reindex(columns=columns, fill_value=0.0)
    total = table.sum(axis=1)
    shares = table.div(total.where(total > 0), axis=0).fillna(0.0)
    shares.columns = [f"share_{features.slug(c)}" for c in columns]
    shares.index.name = "customer_id"
    return shares


def reference_favourite_shop(purchases):
    spend = (purchases.assign(customer_id=purchases["customer_id"].astype("str"),
                              shop_id=purchases["shop_id"].astype("str"))
             .groupby(["customer_id", "shop_id"])["total_amount"].sum().reset_index())
    spend = spend.sort_values(["customer_id", "total_amount", "shop_id"],
                              ascending=[True, False, True])
    best = spend.drop_duplicates("customer_id").set_index("customer_id")
    out = pd.DataFrame({"favourite_shop": best["shop_id"]})
    city = (purchases.assign(shop_id=purchases["shop_id"].astype("str"))
            .drop_duplicates("shop_id").set_index("shop_id")["shop_city"])
    out["favourite_shop_city"] = out["favourite_shop"].map(city).astype("str")
    return out


def reference_customer_features(sales, customers, top=5):
    as_of = features.default_as_of(sales)
    lines = sales[sales["customer_id"].notna()]
    lines = lines[lines["transaction_date"] < as_of]
    lines = lines[reference_counted(lines)]
    amount = lines["total_amount"].astype("float64")
    bought = (resolve_line_types(lines) == SALE).to_numpy()
    frame = pd.DataFrame({
        "customer_id": lines["customer_id"].astype("str").to_numpy(),
        "day": lines["transaction_date"].dt.normalize().to_numpy(),
        "gross": np.where(bought, amount, 0.0),
        "returned": np.where(bought, 0.0, -amount),
        "units": lines["quantity"].astype("float64").to_numpy(),
    })
    per = frame[bought].groupby("customer_id", sort=True).agg(
        first_purchase=("day", "min"), last_purchase=("day", "max"), frequency=("day", "nunique"))
    out = per.join(frame.groupby("customer_id", sort=True)[["gross", "returned", "units"]].sum())
    out["recency_days"] = (as_of - out["last_purchase"]).dt.days.astype("int64")
    out["tenure_days"] = (as_of - out["first_purchase"]).dt.days.astype("int64")
    out["frequency"] = out["frequency"].astype("int64")
    out["gross_spend"] = out.pop("gross")
    out["returned_spend"] = out.pop("returned")
    out["monetary"] = out["gross_spend"] - out["returned_spend"]
    out["avg_basket"] = out["monetary"] / out["frequency"]
    out["return_rate"] = np.where(out["gross_spend"] > 0, out["returned_spend"]
                                  / out["gross_spend"].where(out["gross_spend"] > 0), 0.0)
    out = out.join(reference_category_shares(lines, bought, top))
    out = out.join(reference_favourite_shop(lines[bought]))
    return out.reset_index()


def reference_daily(sales, end, start=None):
    lines = sales[sales["customer_id"].notna() & (sales["transaction_date"] < end)]
    if start is not None:
        lines = lines[lines["transaction_date"] >= start]
    lines = lines[reference_counted(lines)]
    return (lines.assign(customer_id=lines["customer_id"].astype("str"),
                         day=lines["transaction_date"].dt.normalize())
            .groupby(["customer_id", "day"], sort=True)["total_amount"].sum())


def reference_rfm_summary(sales, end, start=None):
    daily = reference_daily(sales, end, start).reset_index()
    daily = daily[daily["total_amount"] > 0]
    first = daily.groupby("customer_id")["day"].transform("min")
    repeat = daily[daily["day"] > first]
    per = daily.groupby("customer_id").agg(first=("day", "min"), last=("day", "max"),
                                           days=("day", "size"))
    m_x = repeat.groupby("customer_id")["total_amount"].mean()
    return pd.DataFrame({
        "customer_id": per.index.to_numpy(),
        "x": (per["days"] - 1).to_numpy("float64"),
        "t_x": (per["last"] - per["first"]).dt.days.to_numpy("float64"),
        "T": (end.normalize() - per["first"]).dt.days.to_numpy("float64"),
        "m_x": m_x.reindex(per.index).fillna(0.0).to_numpy("float64"),
    })


def reference_purchases_between(sales, start, end):
    daily = reference_daily(sales, end, start)
    return daily[daily > 0].groupby(level="customer_id").size().astype("float64")


def reference_bgnbd_loglik(params, x, t_x, T, weights):
    from scipy.special import betaln, gammaln

    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    a3 = np.full_like(x, -np.inf)
    a3[repeat] = (betaln(a + 1, b + x[repeat] - 1) - betaln(a, b)
                  - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
    return float(np.sum((a1 + np.logaddexp(a2, a3)) * weights))


def reference_gamma_gamma_loglik(params, x, m):
    from scipy.special import gammaln

    p, q, g = params
    return float((gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
                  + (p * x - 1) * np.log(m) + p * x * np.log(x)
                  - (p * x + q) * np.log(g + m * x)).sum())


def reference_expected_purchases(params, t, x, t_x, T):
    from scipy.special import hyp2f1

    r, alpha, a, b = params
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    return (a + b + x - 1) / (a - 1) * bracket / (1 + value._dropout_odds(params, x, t_x, T))


# -- data ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables(small_sample):
    return typed_tables(small_sample)


@pytest.fixture(scope="module")
def sales(tables):
    """The sample's sales features with every kind of line the paths must treat alike."""
    frame, _ = build_sales_features(tables["transactions"], tables["customers"],
                                    tables["products"], tables["shops"])
    frame = frame.copy()
    rng = np.random.default_rng(11)
    pick = lambda share: rng.random(len(frame)) < share  # noqa: E731
    frame.loc[pick(0.02), "category"] = None
    frame.loc[pick(0.01), "category"] = "unknown"
    frame.loc[pick(0.02), "line_type"] = None  # resolved from the sign of the quantity
    frame.loc[pick(0.01), "line_type"] = " Void "
    frame.loc[pick(0.01), "line_type"] = ""
    frame.loc[pick(0.01), "line_type"] = "CANCELLATION"
    frame.loc[pick(0.02), "counted"] = False
    frame.loc[pick(0.02), "customer_id"] = None  # walk-ins
    # a second shop with exactly the spend of a customer's favourite: ties go to the lowest id
    tie = frame[frame["customer_id"].notna() & (frame["quantity"] > 0)].iloc[:40].copy()
    tie["shop_id"] = frame["shop_id"].min()
    tie["transaction_id"] = tie["transaction_id"].astype("str") + "-tie"
    return pd.concat([frame, tie], ignore_index=True)


# -- tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("top", [5, 2, 0])
def test_customer_features_equal_the_reference(sales, tables, top):
    new = features.customer_features(sales, tables["customers"], top_categories=top)
    old = reference_customer_features(sales, tables["customers"], top)
    assert len(old) > 50 and (old["returned_spend"] > 0).any()
    pd.testing.assert_frame_equal(new[old.columns], old, check_exact=True)


def test_the_steps_need_only_their_input_columns(sales, tables):
    """What the assets load (``INPUT_COLUMNS``) gives the same tables as the whole frame."""
    customers = tables["customers"]
    pd.testing.assert_frame_equal(
        features.customer_features(sales[features.INPUT_COLUMNS], customers),
        features.customer_features(sales, customers), check_exact=True)
    end = features.default_as_of(sales)
    pd.testing.assert_frame_equal(value.rfm_summary(sales[value.INPUT_COLUMNS], end),
                                  value.rfm_summary(sales, end), check_exact=True)
    ins = {name: definition.node_def.ins["sales_features"].metadata["columns"]
           for name, definition in (("features", segmentation_assets.customer_features),
                                    ("value", segmentation_assets.customer_value))}
    assert ins == {"features": features.INPUT_COLUMNS, "value": value.INPUT_COLUMNS}


def test_rfm_summary_and_holdout_counts_equal_the_reference(sales):
    end = features.default_as_of(sales)
    cutoff = end - pd.Timedelta(days=120)
    for start, stop in ((None, end), (end - pd.Timedelta(days=400), cutoff),
                        (None, cutoff + pd.Timedelta(hours=15))):  # a bound within a day
        pd.testing.assert_frame_equal(value.rfm_summary(sales, stop, start),
                                      reference_rfm_summary(sales, stop, start), check_exact=True)
    pd.testing.assert_series_equal(value.purchases_between(sales, cutoff, end),
                                   reference_purchases_between(sales, cutoff, end),
                                   check_exact=True)
    holdout = value.holdout_validation(sales, end, cutoff)
    calibration = reference_rfm_summary(sales, cutoff)
    actual = reference_purchases_between(sales, cutoff, end).reindex(
        calibration["customer_id"]).fillna(0.0)
    assert list(holdout.per_customer["customer_id"]) == list(calibration["customer_id"])
    assert np.array_equal(holdout.per_customer["actual"], actual.to_numpy())


def test_intervals_equal_a_per_customer_nanpercentile(sales, monkeypatch):
    """Blocks of customers (7 here) and the vectorised percentile change no number."""
    monkeypatch.setattr(value, "BLOCK", 7)
    end = features.default_as_of(sales)
    summary = value.rfm_summary(sales, end)
    model = value.fit_value_model(summary, end)
    table = value.customer_value(summary, model, draws=40, seed=3)
    x, t_x, T, m = (summary[c].to_numpy("float64") for c in ("x", "t_x", "T", "m_x"))
    rng = np.random.default_rng(3)
    bg_draws, gg_draws = model.bgnbd.draws(40, rng), model.gamma_gamma.draws(40, rng)
    gg_draws = gg_draws[gg_draws[:, 1] > 1] if (gg_draws[:, 1] > 1).any() else gg_draws
    sims = {"p_alive": [], "purchases_90d": [], "purchases_365d": [], "spend_365d": []}
    for i, params in enumerate(bg_draws):
        sims["p_alive"].append(value.p_alive(params, x, t_x, T))
        sims["purchases_90d"].append(reference_expected_purchases(params, 90, x, t_x, T))
        p365 = reference_expected_purchases(params, 365, x, t_x, T)
        sims["purchases_365d"].append(p365)
        sims["spend_365d"].append(p365 * value.expected_spend_per_purchase(
            gg_draws[i % len(gg_draws)], x, m))
    lo, hi = (1 - 0.8) / 2 * 100, (1 + 0.8) / 2 * 100  # the default 80% interval
    for name, draws in sims.items():
        stacked = np.vstack(draws)
        assert np.array_equal(table[f"{name}_lower"], np.nanpercentile(stacked, lo, axis=0))
        assert np.array_equal(table[f"{name}_upper"], np.nanpercentile(stacked, hi, axis=0))
    assert np.array_equal(table["purchases_90d"],
                          reference_expected_purchases(model.bgnbd.params, 90, x, t_x, T))


def test_percentiles_with_missing_draws_equal_nanpercentile():
    stacked = np.random.default_rng(2).normal(size=(50, 30))
    stacked[3, 4] = stacked[7, 4] = stacked[0, 9] = np.nan
    stacked[:, 12] = np.nan  # every draw missing: NaN, as nanpercentile gives
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanpercentile(stacked, (10, 90), axis=0)
        result = value._percentiles(stacked, (10, 90))
    assert np.array_equal(result, expected, equal_nan=True)


def test_likelihoods_and_expectation_equal_the_formulas():
    """Special functions per distinct value give the row-by-row numbers exactly."""
    rng = np.random.default_rng(8)
    n = 3000
    x = rng.integers(0, 12, n).astype("float64")
    T = rng.integers(1, 400, n).astype("float64")
    t_x = np.where(x > 0, np.floor(rng.random(n) * T), 0.0)
    weights = rng.integers(1, 4, n).astype("float64")
    for params in ((0.8, 20.0, 0.9, 3.0), (2.5, 3.0, 1.0 + 1e-7, 0.7), (0.1, 150.0, 4.0, 9.0)):
        assert value.bgnbd_loglik(params, x, t_x, T, weights) == reference_bgnbd_loglik(
            params, x, t_x, T, weights)
    for params in ((0.8, 20.0, 0.9, 3.0), (0.1, 150.0, 4.0, 9.0)):
        assert np.array_equal(value.expected_purchases(params, 90, x, t_x, T),
                              reference_expected_purchases(params, 90, x, t_x, T))
    repeat = x > 0
    m = rng.gamma(3.0, 10.0, n)
    for params in ((3.0, 4.0, 30.0), (0.5, 9.0, 2.0)):
        assert value.gamma_gamma_loglik(params, x[repeat], m[repeat]) == \
            reference_gamma_gamma_loglik(params, x[repeat], m[repeat])
