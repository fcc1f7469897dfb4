"""Customer features from hand-made sales, and RFM scores against quintiles computed here."""

import re

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.contract import ContractError
from retail_pipeline.segmentation import rfm
from retail_pipeline.segmentation.features import customer_features
from retail_pipeline.segmentation.rfm import SEGMENT_MAP, SEGMENTS, rfm_scores


def _line(customer, day, quantity, price, shop="S1", category="Toys", shop_city="Berlin"):
    return {"customer_id": customer, "transaction_date": pd.Timestamp(day) + pd.Timedelta(hours=10),
            "quantity": quantity, "actual_price": price, "total_amount": quantity * price,
            "shop_id": shop, "category": category, "shop_city": shop_city}


@pytest.fixture
def sales():
    return pd.DataFrame([
        _line("A", "2024-01-01", 2, 10.0, category="Toys"),
        _line("A", "2024-01-01", 1, 30.0, category="Books"),  # same day: one purchase day
        _line("A", "2024-01-05", 1, 40.0, shop="S2", category="Books", shop_city="Hamburg"),
        _line("A", "2024-01-06", -1, 30.0, category="Books"),  # a return: netted, not a visit
        _line("B", "2024-01-08", 3, 5.0, shop="S2", category="Garden", shop_city="Hamburg"),
        _line(None, "2024-01-09", 1, 99.0),  # walk-in: no customer
    ])


@pytest.fixture
def customers():
    return pd.DataFrame({"customer_id": ["A", "B", "C"], "customer_name": ["a", "b", "c"],
                         "gender": ["female", None, "male"], "age": [30, 50, 40],
                         "city": ["Berlin", "Hamburg", "Munich"],
                         "preferred_categories": ["Toys", None, "Books"],
                         "avg_monthly_spending": [100.0, 50.0, 10.0],
                         "visits_per_month": [2.0, 1.0, 0.5], "tier": ["gold", "silver", "gold"]})


def test_customer_features_net_returns_and_recency(sales, customers):
    f = customer_features(sales, customers, top_categories=2, extra_columns=("tier",))
    assert list(f["customer_id"]) == ["A", "B"]  # C never bought; the walk-in is left out
    a = f.set_index("customer_id").loc["A"]
    as_of = pd.Timestamp("2024-01-10")  # the day after the last sale
    assert a["as_of"] == as_of
    assert a["frequency"] == 2  # 01-01 and 01-05; the return day is not a purchase
    assert a["recency_days"] == (as_of - pd.Timestamp("2024-01-05")).days
    assert a["tenure_days"] == (as_of - pd.Timestamp("2024-01-01")).days
    gross = 2 * 10 + 30 + 40
    assert a["gross_spend"] == gross and a["returned_spend"] == 30
    assert a["monetary"] == gross - 30
    assert a["avg_basket"] == pytest.approx((gross - 30) / 2)
    assert a["return_rate"] == pytest.approx(30 / gross)
    # top 2 categories by purchase value: Books (70), Toys (20); shares of gross spend
    assert a["share_books"] == pytest.approx(70 / gross)
    assert a["share_toys"] == pytest.approx(20 / gross)
    assert a["share_other"] == 0
    assert a["favourite_shop"] == "S1" and a["favourite_shop_city"] == "Berlin"  # 50 vs 40
    assert a["tier"] == "gold" and a["age"] == 30 and a["city"] == "Berlin"
    b = f.set_index("customer_id").loc["B"]
    assert b["share_other"] == 1.0 and b["return_rate"] == 0 and pd.isna(b["gender"])


def test_missing_column_is_rejected_with_its_name(sales, customers):
    with pytest.raises(ContractError) as err:
        customer_features(sales.drop(columns="shop_id"), customers)
    assert err.value.problems[0].column == "shop_id"
    assert "required column is missing" in str(err.value)
    with pytest.raises(ContractError, match="loyalty"):
        customer_features(sales, customers, extra_columns=("loyalty",))


def _independent_quintiles(values, ids, higher_is_better):
    """Rank by value (ties: id) with Python's sort, then five equal groups by position."""
    n = len(values)
    sign = 1 if higher_is_better else -1
    order = sorted(range(n), key=lambda i: (sign * values[i], ids[i]))
    score = [0] * n
    for position, i in enumerate(order):
        score[i] = int(position * 5 / n) + 1
    return score


def test_rfm_scores_equal_independent_quintiles():
    rng = np.random.default_rng(5)
    n = 137  # not a multiple of five, with many ties in frequency and recency
    ids = [f"C{i:04d}" for i in rng.permutation(n)]
    features = pd.DataFrame({"customer_id": ids, "recency_days": rng.integers(1, 40, n),
                             "frequency": rng.integers(1, 6, n),
                             "monetary": rng.gamma(2, 50, n).round(0)})
    scores = rfm_scores(features)
    r = _independent_quintiles(list(features["recency_days"]), ids, higher_is_better=False)
    f = _independent_quintiles(list(features["frequency"]), ids, higher_is_better=True)
    m = _independent_quintiles(list(features["monetary"]), ids, higher_is_better=True)
    assert list(scores["r_score"]) == r and list(scores["f_score"]) == f
    assert list(scores["m_score"]) == m
    assert list(scores["rfm_code"]) == [f"{a}{b}{c}" for a, b, c in zip(r, f, m, strict=True)]
    counts = scores["f_score"].value_counts()
    assert counts.max() - counts.min() <= 1  # quintiles: equal sizes up to one customer
    # the most recent customer scores R=5, the biggest spender M=5
    assert scores.loc[features["recency_days"].idxmin(), "r_score"] == 5
    assert scores.loc[features["monetary"].idxmax(), "m_score"] == 5
    # deterministic: shuffled input, same scores per customer
    again = rfm_scores(features.sample(frac=1, random_state=1)).set_index("customer_id")
    pd.testing.assert_frame_equal(again.loc[ids].reset_index(), scores)


def _documented_grid() -> dict[tuple[int, int], str]:
    """The R x F table of the module docstring, parsed."""
    grid = {}
    for line in rfm.__doc__.splitlines():
        match = re.match(r"R=(\d)\s{2,}(.*)$", line)
        if match:
            names = re.split(r"\s{2,}", match.group(2).strip())
            for f, name in enumerate(names, start=1):
                grid[(int(match.group(1)), f)] = name
    return grid


def test_segment_map_is_applied_as_documented():
    grid = _documented_grid()
    assert len(grid) == 25 and set(grid.values()) == set(SEGMENTS)
    assert SEGMENT_MAP == grid
    # the regular-expression form quoted in the docstring gives the same cells
    patterns = {r"[1-2][1-2]": "Hibernating", r"[1-2][3-4]": "At Risk", r"[1-2]5": "Can't Lose",
                r"3[1-2]": "About to Sleep", r"33": "Need Attention", r"[3-4][4-5]": "Loyal",
                r"41": "Promising", r"51": "New", r"[4-5][2-3]": "Potential Loyalists",
                r"5[4-5]": "Champions"}
    for (r, f), name in grid.items():
        matches = [n for p, n in patterns.items() if re.fullmatch(p, f"{r}{f}")]
        assert matches == [name]
    scores = rfm_scores(pd.DataFrame({"customer_id": [f"C{i}" for i in range(25)],
                                      "recency_days": np.repeat(np.arange(5, 0, -1), 5),
                                      "frequency": np.tile(np.arange(1, 6), 5),
                                      "monetary": np.arange(25.0)}))
    for row in scores.itertuples():
        assert row.segment == grid[(row.r_score, row.f_score)]


@pytest.mark.parametrize("with_measures", [False, True])
def test_void_lines_count_nowhere_and_cancellations_are_netted(customers, with_measures):
    from retail_pipeline.sales.features import line_measures

    rows = [
        {**_line("A", "2024-01-01", 2, 10.0), "line_type": "sale"},
        {**_line("A", "2024-01-03", 5, 50.0), "line_type": "void"},  # never became a sale
        {**_line("A", "2024-01-04", -1, 10.0), "line_type": "cancellation"},
        {**_line("A", "2024-01-06", 1, 40.0, category="Books"), "line_type": None},  # sale
        {**_line("B", "2024-01-07", 4, 25.0), "line_type": "void"},  # B only ever voided
    ]
    sales = pd.DataFrame(rows)
    if with_measures:  # the sales_features form: measures from the sales domain
        measures = line_measures(sales)
        sales = sales.drop(columns=["line_type", "total_amount"]).join(measures)
    f = customer_features(sales, customers, top_categories=2)
    assert list(f["customer_id"]) == ["A"]  # a customer with only void lines never bought
    a = f.set_index("customer_id").loc["A"]
    # computed here from the rows above: sales 2 x 10 and 1 x 40, one unit of 10 cancelled
    assert a["frequency"] == 2 and a["gross_spend"] == 60 and a["returned_spend"] == 10
    assert a["monetary"] == 50 and a["units"] == 2
    assert a["as_of"] == pd.Timestamp("2024-01-08")  # the day after the last line in the data
    assert a["recency_days"] == 2 and a["tenure_days"] == 7
    assert a["return_rate"] == pytest.approx(10 / 60)
