"""Products and customers derived from the lines of one export (issue 10)."""

import numpy as np
import pandas as pd

from retail_pipeline.ingest.dimensions import customers_from_lines, numbers, products_from_lines


def _lines(**columns):
    return pd.DataFrame(columns, dtype="str")


def test_products_take_the_most_common_name_and_positive_price_first_seen_on_ties():
    lines = _lines(product_id=["P1", "P1", "P1", "P2", "P2", "P3", " P1 "],
                   quantity=["1", "2", "1", "1", "-1", "3", "1"],
                   actual_price=["2.10", "2.1", "3.00", "5", "4", "0", "3"],
                   product_name=["Mug", "mug", "Mug", "Jar", "Jar lid", "Free", ""])
    rows = np.arange(2, 2 + len(lines))
    part = products_from_lines(lines, rows, name="product_name")
    got = part.frame.set_index("product_id")
    assert list(got.index) == ["P1", "P2"]  # P3 was never sold at a positive price
    assert got.loc["P1", "standard_price"] == "2.1"  # 2.10 and 2.1 are one price, seen twice
    assert got.loc["P1", "product_name"] == "Mug" and got.loc["P2", "product_name"] == "Jar"
    assert got.loc["P2", "standard_price"] == "5"  # the return line's price is not a list price
    assert list(part.rows) == [2, 5]


def test_products_where_limits_the_lines_that_count():
    lines = _lines(product_id=["P1", "P1", "P2"], quantity=["1", "1", "1"], actual_price=["9", "2", "4"],
                   product_name=["damages", "Mug", "Jar"])
    part = products_from_lines(lines, np.array([2, 3, 4]), name="product_name",
                               where=np.array([False, True, True]))
    got = part.frame.set_index("product_id")
    assert got.loc["P1", "product_name"] == "Mug" and got.loc["P1", "standard_price"] == "2"
    assert list(part.rows) == [3, 4]


def test_customers_take_their_latest_line():
    lines = _lines(customer_id=["C1", "", "C2", "C1"], country=["France", "Spain", "Italy", "Germany"])
    part = customers_from_lines(lines, np.array([2, 3, 4, 5]), country="country")
    got = part.frame.set_index("customer_id")
    assert got["country"].to_dict() == {"C2": "Italy", "C1": "Germany"}
    assert (got["customer_name"] == got.index).all() and list(part.rows) == [4, 5]


def test_numbers_reads_text_like_to_numeric():
    text = pd.Series([" 1.5", "x", "", None, "-2", "1e3"], dtype="str")
    expected = pd.to_numeric(text.str.strip().replace("", None), errors="coerce").to_numpy(dtype="float64")
    np.testing.assert_array_equal(numbers(text), expected)
