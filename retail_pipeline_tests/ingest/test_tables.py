"""The CSV reader: the quote-aware (serial) row split is only used when a quoted value spans lines."""

import pytest

from retail_pipeline.ingest.tables import newline_in_quotes, read_csv

HEADER = ["id", "name", "qty"]


@pytest.mark.parametrize(("data", "expected"), [
    (b'id,name,qty\n1,"a, b",2\n', False),
    (b'id,name,qty\n1,"say ""hi""",2\n', False),
    (b'id,name,qty\n1,"two\nlines",2\n', True),
    (b'id,name,qty\n1,"open,2\n', True),
    (b"id,name,qty\n1,plain,2\n", False),
])
def test_newline_in_quotes(data, expected):
    assert newline_in_quotes(data) is expected


def test_quoted_values_read_the_same_with_and_without_line_breaks():
    flat = read_csv(b'id,name,qty\n1,"a, b",2\n2,"say ""hi""",3\n', "f.csv", ",", HEADER)
    assert flat.frame["name"].tolist() == ["a, b", 'say "hi"']
    broken = read_csv(b'id,name,qty\n1,"a\nb",2\n2,x,3\n', "f.csv", ",", HEADER)
    assert broken.frame["name"].tolist() == ["a\nb", "x"] and broken.frame["qty"].tolist() == ["2", "3"]
