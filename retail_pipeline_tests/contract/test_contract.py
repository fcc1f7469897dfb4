"""The data contract: canonical dtypes out, precise problems for bad input."""

import pandas as pd
import pytest

from retail_pipeline.contract import ENTITIES, ContractError, empty_frame, validate


def transactions(**overrides) -> pd.DataFrame:
    base = {
        "transaction_id": ["T1", "T2", "T3"],
        "customer_id": ["C1", "", "C2"],
        "product_id": ["P1", "P2", "P1"],
        "shop_id": ["S1", "S1", "S2"],
        "quantity": ["1", "2", "3"],
        "actual_price": ["9.99", "0", "5.5"],
        "transaction_date": ["2024-01-06", "2024-01-07 13:45:00", "2024-01-08T08:00:00"],
        "payment_method": ["card", "cash", "=SUM(A1)"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def problems(frame, entity="transactions"):
    with pytest.raises(ContractError) as caught:
        validate(frame, entity, "upload.csv")
    return caught.value


def test_valid_table_gets_canonical_dtypes_and_keeps_text_as_text():
    out = validate(transactions(extra=["a", "b", "c"]), "transactions", "upload.csv")
    assert str(out["quantity"].dtype) == "Int64"
    assert out["actual_price"].tolist() == [9.99, 0.0, 5.5]
    assert out["transaction_date"].tolist() == [pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-07 13:45"),
                                                pd.Timestamp("2024-01-08 08:00")]
    assert out["payment_method"][2] == "=SUM(A1)"  # stored as text, never evaluated
    assert pd.isna(out["customer_id"][1])  # walk-in: empty customer allowed
    assert out["extra"].tolist() == ["a", "b", "c"]  # extra columns are kept


def test_missing_column_is_named():
    err = problems(transactions().drop(columns="shop_id"))
    assert err.problems[0].column == "shop_id" and "missing" in err.problems[0].rule


def test_each_bad_value_names_row_column_value_and_rule():
    err = problems(transactions(quantity=["1", "two", "0"], actual_price=["1", "-0.5", "1"],
                                transaction_date=["2024-01-06", "2024-02-30", "2024-01-08"]))
    found = {(p.row, p.column, p.value) for p in err.problems}
    # header is row 1, so the second data row is row 3
    assert (3, "quantity", "two") in found
    assert (4, "quantity", "0") in found
    assert (3, "actual_price", "-0.5") in found
    assert (3, "transaction_date", "2024-02-30") in found
    assert err.total == 4
    assert "upload.csv, row 3, column 'quantity'" in str(err)


def test_fractional_quantity_and_empty_required_value_are_rejected():
    err = problems(transactions(quantity=["1.5", "2", "3"], shop_id=["S1", " ", "S2"]))
    rules = {(p.row, p.column): p.rule for p in err.problems}
    assert "whole number" in rules[(2, "quantity")]
    assert "must not be empty" in rules[(3, "shop_id")]


def test_duplicate_keys_point_at_the_first_use():
    err = problems(transactions(transaction_id=["T1", "T2", "T1"]))
    assert err.problems[0].row == 4
    assert "already used on row 2" in err.problems[0].rule


def test_report_is_capped_but_counts_everything():
    frame = transactions(quantity=["x", "y", "z"])
    with pytest.raises(ContractError) as caught:
        validate(frame, "transactions", "f.csv", limit=2)
    assert len(caught.value.problems) == 2 and caught.value.total == 3
    assert "and 1 more" in str(caught.value)


def test_header_only_is_rejected():
    err = problems(transactions().iloc[:0])
    assert "no data rows" in err.problems[0].rule


def test_explicit_date_format():
    out = validate(transactions(transaction_date=["06-01-2024 10:00:00"] * 3), "transactions", "f.csv",
                   date_format="%d-%m-%Y %H:%M:%S")
    assert out["transaction_date"][0] == pd.Timestamp("2024-01-06 10:00")


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_empty_frame_has_the_contract_columns(entity):
    frame = empty_frame(entity)
    assert list(frame.columns) == ENTITIES[entity].column_names and len(frame) == 0


def test_dates_outside_the_supported_range_are_problems_not_crashes():
    err = problems(transactions(transaction_date=["1600-01-01", "2024-01-07", "2300-01-01 00:00:00"]))
    assert [(p.row, p.value) for p in err.problems] == [(2, "1600-01-01"), (4, "2300-01-01 00:00:00")]
    assert "between 1900-01-01 and 2199-12-31" in err.problems[0].rule


def test_a_utc_offset_keeps_the_local_wall_time():
    out = validate(transactions(transaction_date=["2024-01-05 23:30+01", "2024-01-05", "2024-01-06T08:00:00Z"]),
                   "transactions", "f.csv")
    assert out["transaction_date"].tolist() == [pd.Timestamp("2024-01-05 23:30"), pd.Timestamp("2024-01-05"),
                                                pd.Timestamp("2024-01-06 08:00")]


def test_re_checking_a_typed_table_is_the_identity_and_still_names_bad_values(small_sample):
    from retail_pipeline_tests.conftest import as_uploaded

    typed = validate(as_uploaded(small_sample.transactions), "transactions")
    pd.testing.assert_frame_equal(validate(typed, "transactions"), typed)
    broken = typed.copy()
    broken.loc[3, "actual_price"] = -2.5
    broken.loc[5, "transaction_date"] = pd.NaT
    with pytest.raises(ContractError) as caught:
        validate(broken, "transactions", "store.parquet")
    assert {(p.row, p.column, p.value) for p in caught.value.problems} == {
        (5, "actual_price", "-2.5"), (7, "transaction_date", None)}


def test_a_date_format_with_an_offset_keeps_the_wall_time_and_names_bad_values():
    frame = pd.DataFrame({"date": ["2025-05-11 09:55:16 -0400", "2025-05-11 23:30:00 +0100", "soon"],
                          "channel": ["a", "b", "c"], "spend": ["1", "2", "3"]}, dtype="str")
    with pytest.raises(ContractError) as error:
        validate(frame, "marketing_spend", file="ads.csv", date_format="%Y-%m-%d %H:%M:%S %z")
    assert [(p.row, p.column, p.value) for p in error.value.problems] == [(4, "date", "soon")]
    typed = validate(frame.iloc[:2], "marketing_spend", date_format="%Y-%m-%d %H:%M:%S %z")
    assert typed["date"].tolist() == [pd.Timestamp("2025-05-11 09:55:16"), pd.Timestamp("2025-05-11 23:30:00")]
