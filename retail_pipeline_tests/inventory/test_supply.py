"""Supply attributes with defaults and clear errors; stock levels checked and positioned."""

import pandas as pd
import pytest

from retail_pipeline.contract import ContractError, validate
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.inventory.settings import InventorySettings
from retail_pipeline.inventory.supply import (
    check_stock_references,
    current_positions,
    supply_attributes,
)

PRODUCTS = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "category": ["Toys", "Home", "Toys"],
                         "standard_price": [10.0, 20.0, 5.0]})


def test_defaults_fill_absent_and_empty_values():
    settings = InventorySettings(unit_cost_share=0.5, lead_time_days=6, order_cost=12)
    products = PRODUCTS.assign(unit_cost=["4", None, " "], lead_time_days=["3", "", None],
                               pack_size=["6", None, None], service_level=[None, "0.99", None])
    supply = supply_attributes(products, settings).set_index("product_id")
    assert supply["unit_cost"].tolist() == [4.0, 10.0, 2.5]  # P2, P3: half the list price
    assert supply["lead_time_days"].tolist() == [3.0, 6.0, 6.0]
    assert supply["order_cost"].tolist() == [12.0] * 3  # column absent: the default
    assert supply["pack_size"].tolist() == [6.0, 1.0, 1.0]
    assert supply["holding_cost_rate"].tolist() == [0.25] * 3
    assert supply.loc["P2", "service_level"] == 0.99
    assert supply["service_level"].isna().sum() == 2


def test_unparseable_or_out_of_range_values_name_product_row_and_column():
    products = PRODUCTS.assign(lead_time_days=["3", "two weeks", "4"], pack_size=["1", "1", "0"])
    with pytest.raises(ContractError) as caught:
        supply_attributes(products, InventorySettings(), file="products.csv")
    problems = caught.value.problems
    assert [(p.file, p.row, p.column, p.value) for p in problems] == [
        ("products.csv", 3, "lead_time_days", "two weeks"), ("products.csv", 4, "pack_size", "0")]
    assert "product P2" in problems[0].rule and "not a number" in problems[0].rule
    assert "product P3" in problems[1].rule and "greater than 0" in problems[1].rule


SHOPS = pd.DataFrame({"shop_id": ["S1", "S2"], "city": ["Berlin", "Hamburg"]})
STOCK = pd.DataFrame({"date": ["2024-06-01", "2024-06-08", "2024-06-08", "2024-06-08"],
                      "shop_id": ["S1", "S1", "S2", "S2"], "product_id": ["P1", "P1", "P2", "P3"],
                      "on_hand": ["9", "4", "0", "7"], "on_order": ["", "6", None, ""],
                      "expected_arrival": [None, "2024-06-12", None, None]})


def test_unknown_shop_or_product_ids_are_rejected_with_file_row_column_and_rule():
    stock = validate(STOCK.assign(shop_id=["S1", "S9", "S2", "S2"],
                                  product_id=["P1", "P1", "P7", "P3"]), "stock_levels")
    with pytest.raises(ContractError) as caught:
        check_stock_references(stock, PRODUCTS, SHOPS, file="stock_levels.csv")
    got = [(p.file, p.row, p.column, p.value) for p in caught.value.problems]
    assert got == [("stock_levels.csv", 3, "shop_id", "S9"), ("stock_levels.csv", 4, "product_id", "P7")]
    assert "not in the shops table" in caught.value.problems[0].rule


@pytest.mark.parametrize(("change", "row", "column", "rule"), [
    ({"on_hand": ["9", "-3", "0", "7"]}, 3, "on_hand", "on_hand must be at least 0"),
    ({"on_order": ["", "six", None, ""]}, 3, "on_order", "on_order is not a number"),
])
def test_negative_or_broken_stock_is_rejected(change, row, column, rule):
    with pytest.raises(ContractError) as caught:
        validate(STOCK.assign(**change), "stock_levels", file="stock_levels.csv")
    problem = caught.value.problems[0]
    assert (problem.file, problem.row, problem.column, problem.rule) == (
        "stock_levels.csv", row, column, rule)


def test_a_bad_stock_upload_is_rejected_and_nothing_stored_changes(seeded_layout):
    store = TableStore(seeded_layout.store)
    before = store.read("stock_levels")
    for name, frame in (("negative", STOCK.assign(on_hand=["1", "-2", "3", "4"])),
                        ("missing", STOCK.drop(columns=["on_hand"]))):
        path = seeded_layout.root / "stock_levels.csv"
        frame.to_csv(path, index=False)
        result = ingest_file(path, seeded_layout)
        assert not result.accepted, name
        problem = result.problems[0]
        assert problem.column == "on_hand" and problem.row in (1, 3), (name, problem)
        assert problem.file.endswith("stock_levels.csv") and problem.rule
    pd.testing.assert_frame_equal(store.read("stock_levels"), before)


def test_the_newest_snapshot_is_the_current_position():
    positions = current_positions(validate(STOCK, "stock_levels")).set_index(["shop_id", "product_id"])
    assert positions.loc[("S1", "P1"), "on_hand"] == 4
    assert positions.loc[("S1", "P1"), "on_order"] == 6
    assert positions.loc[("S1", "P1"), "expected_arrival"] == pd.Timestamp("2024-06-12")
    assert positions.loc[("S2", "P2"), "on_order"] == 0  # empty on_order: nothing on order
    assert len(positions) == 3
