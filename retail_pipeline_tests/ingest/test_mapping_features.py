"""Mapping files for real exports (issue 10): keys from several columns or a line's position,
row filters, fill-down, computed line types, products and customers from the same lines,
and a message naming every unknown or ill-formed key. Expected values are computed here
with plain pandas on the same small files."""

import io
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from retail_pipeline.contract import ContractError
from retail_pipeline.ingest import tables
from retail_pipeline.ingest.mapping import MappedFrame, Mapping
from retail_pipeline.ingest.reader import UploadRejected, read_upload
from retail_pipeline_tests.ingest.helpers import SHARED_DATA

INVOICES = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country,Category
1001,A,Red mug,2,2024-01-02 10:00:00,3.50,C1,UK,kitchen
1001,B,Blue plate,1,2024-01-02 10:00:00,5.00,C1,UK,kitchen
1001,POST,Postage,1,2024-01-02 10:00:00,18.00,C1,UK,
1002,A,Red mug,1,2024-01-03 11:00:00,3.50,C2,France,kitchen
C1003,A,Red mug,-1,2024-01-04 09:00:00,3.50,C1,Germany,kitchen
1004,A,RED MUG,3,2024-01-05 09:00:00,3.00,,UK,gifts
1004,AMZ,Amazon fee,1,2024-01-05 09:00:00,0.50,,UK,
1004,B,Blue plate,1,2024-01-05 09:00:00,5.00,,UK,kitchen
"""
INVOICE_MAPPING = {
    "entity": "transactions",
    "columns": {"StockCode": "product_id", "Quantity": "quantity", "Price": "actual_price",
                "InvoiceDate": "transaction_date", "Customer ID": "customer_id"},
    "constants": {"shop_id": "web"},
    "key": {"position_within": "Invoice"},
    "drop_rows": [{"column": "StockCode", "equals": "post"}, {"column": "Description", "matches": "(?i)amazon fee"}],
    "line_type": [{"type": "cancellation", "when": {"column": "Invoice", "starts_with": "c"}}],
    "emit": {"products": {"name": "Description", "category": "Category"}, "customers": {"country": "Country"}},
}


def frame_of(text: str, delimiter: str = ",") -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=delimiter)


def parts(text: str, spec: dict, delimiter: str = ",") -> list:
    mapping = Mapping.from_dict(spec, "m.yaml")
    data = text.encode()
    raw = tables.read_csv(data, "x.csv", delimiter, tables.first_record(data, delimiter))
    return mapping.frames(raw, "x.csv")


def test_invoice_lines_key_filter_line_type_and_dimensions():
    source = frame_of(INVOICES)
    parsed = read_upload(INVOICES.encode(), "invoices.csv", Mapping.from_dict(INVOICE_MAPPING, "m.yaml"))
    lines = parsed.tables["transactions"]

    dropped = source["StockCode"].str.lower().eq("post") | source["Description"].str.fullmatch("(?i)amazon fee")
    kept = source[~dropped]
    # the key is the line's position in its invoice counted over the whole file, so a
    # dropped line leaves its number out (1001-3 is the postage line)
    position = source.groupby("Invoice", sort=False).cumcount() + 1
    expected_ids = (source["Invoice"] + "-" + position.astype(str))[~dropped].tolist()
    assert lines["transaction_id"].tolist() == expected_ids == ["1001-1", "1001-2", "1002-1", "C1003-1",
                                                                "1004-1", "1004-3"]
    assert lines["line_type"].fillna("").tolist() == [
        "cancellation" if i.startswith("C") else "" for i in kept["Invoice"]]
    assert lines["quantity"].tolist() == kept["Quantity"].astype(int).tolist()

    main = parts(INVOICES, INVOICE_MAPPING)[0]
    assert isinstance(main, MappedFrame)
    assert main.dropped == int(dropped.sum()) == 2
    assert main.dropped_by == {"StockCode equals 'post'": 1, "Description matches '(?i)amazon fee'": 1}
    assert main.rows.tolist() == [i + 2 for i in kept.index]  # the file's own row numbers

    products = parsed.tables["products"].set_index("product_id")
    sales = kept[kept["Quantity"].astype(int) > 0]
    price = sales.assign(p=sales["Price"].astype(float)).groupby("StockCode")["p"].agg(lambda s: s.mode().iloc[0])
    assert products["standard_price"].to_dict() == price.to_dict() == {"A": 3.5, "B": 5.0}
    name = kept.groupby("StockCode")["Description"].agg(lambda s: s.value_counts().index[0])
    assert products["product_name"].to_dict() == name.to_dict()
    category = kept.groupby("StockCode")["Category"].agg(lambda s: s.value_counts().index[0])
    assert products["category"].to_dict() == category.to_dict() == {"A": "kitchen", "B": "kitchen"}

    customers = parsed.tables["customers"].set_index("customer_id")
    known = kept[kept["Customer ID"] != ""]
    latest = known.groupby("Customer ID")["Country"].last()
    assert customers["country"].to_dict() == latest.to_dict() == {"C1": "Germany", "C2": "France"}
    assert customers["customer_name"].to_dict() == {"C1": "C1", "C2": "C2"}


def test_composite_key_with_a_separator():
    spec = {**INVOICE_MAPPING, "key": {"columns": ["Invoice", "StockCode"], "separator": "/"}}
    spec.pop("emit")
    main = parts(INVOICES, spec)[0]
    kept = frame_of(INVOICES).iloc[main.rows - 2]
    assert main.frame["transaction_id"].tolist() == (kept["Invoice"] + "/" + kept["StockCode"]).tolist()


SHOP = """Name,Email,Financial Status,Lineitem name,Lineitem quantity,Lineitem price,Created at,Billing Name
#1,a@example.com,paid,Mug,1,3.5,2024-01-02,Ann
#2,b@example.com,voided,Plate,1,5,2024-01-02,Bo
#1,,,Plate,2,5,2024-01-02,
#2,,,Mug,1,3.5,2024-01-02,
#3,,,Mug,1,3.5,2024-01-03,
"""
SHOP_MAPPING = {
    "entity": "transactions",
    "columns": {"Email": "customer_id", "Lineitem name": "product_id", "Lineitem quantity": "quantity",
                "Lineitem price": "actual_price", "Created at": "transaction_date"},
    "constants": {"shop_id": "shop"},
    "key": {"position_within": "Name"},
    "fill_down": {"group": "Name", "columns": ["Email", "Financial Status", "Billing Name"]},
    "line_type": [{"type": "void", "when": [{"column": "Financial Status", "in": ["voided", "refused"]}]},
                  {"type": "sale", "when": {"column": "Financial Status", "equals": "paid"}}],
    "emit": {"customers": {"name": "Billing Name"}},
}


def test_fill_down_within_a_group_and_computed_line_types():
    source = frame_of(SHOP)
    first = source.replace("", pd.NA).groupby("Name")[["Email", "Financial Status"]].transform("first")
    parsed = read_upload(SHOP.encode(), "orders.csv", Mapping.from_dict(SHOP_MAPPING, "m.yaml"))
    lines = parsed.tables["transactions"]
    assert lines["customer_id"].fillna("").tolist() == first["Email"].fillna("").tolist()
    # the group #3 has no first value: nothing crosses over from #1 or #2
    assert lines["customer_id"].fillna("").tolist()[-1] == ""
    status = first["Financial Status"].fillna("")
    assert lines["line_type"].fillna("").tolist() == [
        {"voided": "void", "paid": "sale"}.get(s, "") for s in status]
    assert lines["Financial Status"].fillna("").tolist() == status.tolist()  # kept as an extra column
    customers = parsed.tables["customers"].set_index("customer_id")["customer_name"].to_dict()
    assert customers == {"a@example.com": "Ann", "b@example.com": "Bo"}


@pytest.mark.parametrize(("condition", "dropped"), [
    ({"column": "Description", "equals": "red MUG"}, [1, 4, 5, 6]),
    ({"column": "Invoice", "in": ["1002", "c1003"]}, [4, 5]),
    ({"column": "Invoice", "ends_with": "04"}, [6, 7, 8]),
    ({"column": "Description", "contains": "plate"}, [2, 8]),
    ({"column": "StockCode", "matches": "[A-B]"}, [1, 2, 4, 5, 6, 8]),  # a full match: not AMZ
    ({"column": "Customer ID", "empty": True}, [6, 7, 8]),
    ({"column": "Category", "not_empty": True}, [1, 2, 4, 5, 6, 8]),
])
def test_each_condition_operator(condition, dropped):
    spec = {k: v for k, v in INVOICE_MAPPING.items() if k not in ("drop_rows", "emit")}
    main = parts(INVOICES, {**spec, "drop_rows": [condition]})[0]
    every = list(range(1, len(frame_of(INVOICES)) + 1))
    assert (main.rows - 1).tolist() == [i for i in every if i not in dropped]
    assert main.dropped == len(dropped)


def test_existing_keys_keep_their_meaning():
    text = "Beleg;Artikel;Menge;Preis;Datum\nB1;P1;2;1.234,50;01.03.2024 10:30\n"
    spec = {"entity": "transactions", "delimiter": ";", "decimal": ",", "date_format": "%d.%m.%Y %H:%M",
            "columns": {"Beleg": "transaction_id", "Artikel": "product_id", "Menge": "quantity",
                        "Preis": "actual_price", "Datum": "transaction_date"},
            "constants": {"shop_id": "S1"}}
    parsed = read_upload(text.encode(), "kasse.csv", Mapping.from_dict(spec, "m.yaml"))
    row = parsed.tables["transactions"].iloc[0]
    assert (row["transaction_id"], row["actual_price"], str(row["transaction_date"])) == (
        "B1", 1234.5, "2024-03-01 10:30:00")


BASE = {"entity": "transactions", "columns": INVOICE_MAPPING["columns"], "constants": {"shop_id": "web"},
        "key": {"position_within": "Invoice"}}
REJECTED = {
    "unknown top-level key": ({"drop_row": []}, "drop_row: unknown key"),
    "key not a mapping": ({"key": 3}, "key: must be {position_within: <column>} or {columns: [<column>, ...]}, not 3"),
    "key with both ways": ({"key": {"columns": ["Invoice"], "position_within": "Invoice"}},
                           "key: give exactly one of 'columns' and 'position_within'"),
    "key typo": ({"key": {"position_witin": "Invoice"}}, "key.position_witin: unknown key"),
    "key of a several-column entity": ({"entity": "daily_totals", "columns": {"d": "date", "s": "shop_id",
                                                                               "p": "product_id", "q": "quantity"},
                                        "constants": {}, "key": {"columns": ["d"]}},
                                       "key: the key of daily_totals is several columns"),
    "key column also mapped": ({"columns": {**BASE["columns"], "Invoice": "transaction_id"}},
                               "contract column 'transaction_id' is given more than once"),
    "fill_down without group": ({"fill_down": {"columns": ["Country"]}},
                                "fill_down: needs both 'group' and 'columns' (missing: group)"),
    "fill_down item typo": ({"fill_down": [{"group": "Invoice", "columns": ["Country"], "colums": []}]},
                            "fill_down[0].colums: unknown key"),
    "condition typo": ({"drop_rows": [{"column": "Price", "equals": "0"}, {"column": "Price", "mathces": "0"}]},
                       "drop_rows[1].mathces: unknown key"),
    "two operators": ({"drop_rows": [{"column": "Price", "equals": "0", "contains": "1"}]},
                      "drop_rows[0]: needs exactly one operator"),
    "no operator": ({"drop_rows": [{"column": "Price"}]}, "drop_rows[0]: needs exactly one operator"),
    "no column": ({"drop_rows": [{"equals": "0"}]}, "drop_rows[0]: needs 'column'"),
    "broken regex": ({"drop_rows": [{"column": "Price", "matches": "(0"}]},
                     "drop_rows[0].matches: the regular expression '(0' does not compile"),
    "in without a list": ({"drop_rows": {"column": "Price", "in": "0"}}, "drop_rows.in: must be a list of values"),
    "empty with a value": ({"drop_rows": [{"column": "Price", "empty": "yes"}]},
                           "drop_rows[0].empty: takes no value"),
    "unquoted yes": ({"drop_rows": [{"column": "Price", "equals": True}]},
                     "drop_rows[0].equals: must be a value in quotes, not True"),
    "unknown line type": ({"line_type": [{"type": "refund", "when": {"column": "Invoice", "starts_with": "C"}}]},
                          "line_type[0].type: must be one of sale, return, cancellation, void, not 'refund'"),
    "line type without when": ({"line_type": [{"type": "return"}]}, "line_type[0]: needs 'when'"),
    "line type typo": ({"line_type": [{"type": "return", "when": {"column": "Invoice", "equals": "x"}, "if": 1}]},
                       "line_type[0].if: unknown key"),
    "line type not a list": ({"line_type": {"type": "return"}}, "line_type: must be a list"),
    "line type for products": ({"entity": "products", "columns": {"a": "product_id", "b": "product_name",
                                                                  "c": "standard_price"},
                                "constants": {}, "key": None,
                                "line_type": [{"type": "sale", "when": {"column": "a", "empty": True}}]},
                               "line_type: only transactions have a line type"),
    "emit of an unknown entity": ({"emit": {"shops": {}}}, "emit.shops: unknown key (known: products, customers)"),
    "emit role typo": ({"emit": {"products": {"nmae": "Description"}}}, "emit.products.nmae: unknown key"),
    "emit customers without customer id": ({"columns": {k: v for k, v in BASE["columns"].items()
                                                        if v != "customer_id"}, "emit": {"customers": {}}},
                                           "emit.customers: needs customer_id mapped"),
    "unknown contract column": ({"columns": {**BASE["columns"], "Qty": "amount"}},
                                "columns.Qty: 'amount' is not a column of transactions"),
    "unknown encoding": ({"encoding": "klingon"}, "encoding: unknown encoding 'klingon'"),
    "constant not a value": ({"constants": {"shop_id": ["a", "b"]}}, "constants.shop_id: must be one value"),
    "column target not a name": ({"columns": {**BASE["columns"], "Price": {"to": "actual_price"}}},
                                 "columns.Price: must be a contract column, not {'to': 'actual_price'}"),
    "date format without a field": ({"date_format": "dd.mm.yyyy"}, "date_format: 'dd.mm.yyyy' has no % field"),
    "wide with columns": ({"entity": "marketing_spend", "wide": {"date": "d", "channels": {"tv": {"spend": "t"}}}},
                          "columns: cannot be combined with 'wide'"),
}


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_unknown_or_ill_formed_keys_are_named(case):
    change, message = REJECTED[case]
    spec = {**BASE, **change}
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(ContractError) as error:
        Mapping.from_dict(spec, "shop.yaml")
    rules = [p.rule for p in error.value.problems]
    assert any(rule.startswith(message) for rule in rules), rules
    assert {p.file for p in error.value.problems} == {"shop.yaml"}


def test_every_problem_of_a_mapping_is_reported_at_once(tmp_path):
    path = tmp_path / "typos.yaml"
    path.write_text(yaml.safe_dump({**BASE, "fill_dwn": {}, "drop_rows": [{"colum": "x", "equals": "1"}]}))
    with pytest.raises(ContractError) as error:
        Mapping.load(path)
    rules = sorted(p.rule.split(":")[0] for p in error.value.problems)
    assert rules == ["drop_rows[0]", "drop_rows[0].colum", "fill_dwn"]


def test_a_column_the_mapping_names_must_be_in_the_file():
    spec = {**INVOICE_MAPPING, "drop_rows": [{"column": "Channel", "equals": "x"}]}
    with pytest.raises(UploadRejected) as error:
        read_upload(INVOICES.encode(), "invoices.csv", Mapping.from_dict(spec, "m.yaml"))
    [problem] = error.value.problems
    assert (problem.row, problem.column) == (1, "Channel")
    assert "named in the mapping m.yaml is not in the header" in problem.rule


# --- the worked examples of the README (between its mapping-examples markers), read out of it ---

README = Path(__file__).resolve().parents[2] / "README.md"
ONLINE_RETAIL = SHARED_DATA / "online_retail" / "online_retail_II_2009_2010.csv.gz"


def doc_blocks() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- mapping-examples:start -->", 1)[1].split("<!-- mapping-examples:end -->", 1)[0]
    return re.findall(r"```(yaml|csv)\n(.*?)```", section, re.S)


def test_the_readme_holds_four_mappings_and_one_file():
    assert [kind for kind, _ in doc_blocks()] == ["yaml", "csv", "yaml", "yaml", "yaml"]


@pytest.fixture(scope="module")
def online_retail_excerpt() -> pd.DataFrame:
    """Every kind of line of the real file: the first invoices, cancellations, adjustments,
    price-0 and postage/manual lines, in file order."""
    lines = pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False)
    pick = [lines.head(400), lines[lines["Invoice"].str.startswith("A")],
            lines[lines["Invoice"].str.startswith("C")].head(40),
            lines[lines["StockCode"].isin(["M", "POST", "DOT"])].head(20), lines[lines["Price"] == "0.0"].head(20)]
    return pd.concat(pick).loc[lambda f: ~f.index.duplicated()].sort_index().reset_index(drop=True)


def test_docs_example_1_online_retail(online_retail_excerpt):
    source = online_retail_excerpt
    spec = yaml.safe_load(doc_blocks()[0][1])
    parsed = read_upload(source.to_csv(index=False).encode(), "online_retail.csv",
                         Mapping.from_dict(spec, "online_retail.yaml"))
    dropped = (source["Price"].str.fullmatch(r"0(\.0+)?") | source["Invoice"].str.startswith("A")
               | source["StockCode"].isin(["M", "POST", "DOT"]))
    assert dropped.sum() >= 40 and source["Invoice"].str.startswith("A").sum() == 3
    kept = source[~dropped]
    lines = parsed.tables["transactions"]
    ids = source["Invoice"] + "-" + (source.groupby("Invoice", sort=False).cumcount() + 1).astype(str)
    assert lines["transaction_id"].tolist() == ids[~dropped].tolist()
    assert (lines["line_type"] == "cancellation").tolist() == kept["Invoice"].str.startswith("C").tolist()
    assert lines["quantity"].tolist() == kept["Quantity"].astype(int).tolist()

    sold = kept[(kept["Quantity"].astype(int) > 0) & (kept["Price"].astype(float) > 0)]
    products = parsed.tables["products"].set_index("product_id")
    assert set(products.index) == set(sold["StockCode"])
    price = sold.groupby("StockCode")["Price"].agg(lambda s: s.astype(float).value_counts().index[0])
    assert products["standard_price"].sort_index().tolist() == price.sort_index().tolist()

    customers = parsed.tables["customers"].set_index("customer_id")
    known = kept[kept["Customer ID"] != ""]
    assert customers["country"].to_dict() == known.groupby("Customer ID")["Country"].last().to_dict()


def test_docs_example_2_german_till_export_with_fill_down():
    _, (_, text), (_, mapping), _, _ = doc_blocks()
    source = frame_of(text, ";")
    parsed = read_upload(text.encode(), "kasse.csv", Mapping.from_dict(yaml.safe_load(mapping), "kasse.yaml"))
    lines = parsed.tables["transactions"]
    filled = source.replace("", pd.NA).groupby("Bon")[["Datum", "Kunde", "Zahlart", "Land"]].transform("first")
    kept = source["Artikel"] != "PFAND"
    ids = source["Bon"] + "-" + (source.groupby("Bon", sort=False).cumcount() + 1).astype(str)
    assert lines["transaction_id"].tolist() == ids[kept].tolist()
    assert lines["transaction_date"].tolist() == pd.to_datetime(filled["Datum"][kept], format="%d.%m.%Y %H:%M").tolist()
    assert lines["payment_method"].tolist() == filled["Zahlart"][kept].tolist()
    assert lines["customer_id"].fillna("").tolist() == filled["Kunde"][kept].fillna("").tolist()
    expected_type = ["cancellation" if b.startswith("S") else "void" if z == "abgebrochen" else ""
                     for b, z in zip(source["Bon"][kept], filled["Zahlart"][kept], strict=True)]
    assert lines["line_type"].fillna("").tolist() == expected_type
    assert lines["actual_price"].tolist() == source["Preis"][kept].str.replace(",", ".").astype(float).tolist()
    products = parsed.tables["products"].set_index("product_id")
    assert products["category"].to_dict() == source[kept].groupby("Artikel")["Warengruppe"].first().to_dict()
    customers = parsed.tables["customers"].set_index("customer_id")
    with_id = filled[kept & filled["Kunde"].notna()]
    assert customers["country"].to_dict() == with_id.groupby("Kunde")["Land"].last().to_dict()


def test_docs_wide_example_robyn():
    robyn = SHARED_DATA / "marketing" / "robyn_dt_simulated_weekly.csv"
    wide = pd.read_csv(robyn, keep_default_na=False)
    parsed = read_upload(robyn.read_bytes(), robyn.name, Mapping.from_dict(yaml.safe_load(doc_blocks()[3][1]), "w.yaml"))
    spend = parsed.tables["marketing_spend"]
    assert len(spend) == 5 * len(wide) == 1040
    by_channel = spend.groupby("channel")["spend"].sum()
    columns = {"tv": "tv_S", "ooh": "ooh_S", "print": "print_S", "facebook": "facebook_S", "search": "search_S"}
    for channel, column in columns.items():
        assert by_channel[channel] == pytest.approx(wide[column].astype(float).sum(), rel=1e-12)
    outcomes = parsed.tables["marketing_outcomes"]
    assert len(outcomes) == 208
    assert sorted(c for c in outcomes.columns if c.startswith("events_")) == sorted(
        f"events_{v}" for v in set(wide["events"]) - {"na"})


def test_docs_wide_example_meridian_national():
    path = SHARED_DATA / "marketing" / "meridian_national_all_channels.csv"
    wide = pd.read_csv(path)
    parsed = read_upload(path.read_bytes(), path.name, Mapping.from_dict(yaml.safe_load(doc_blocks()[4][1]), "m.yaml"))
    spend = parsed.tables["marketing_spend"]
    assert len(spend) == 5 * len(wide) == 780
    for i in range(5):
        part = spend[spend["channel"] == f"Channel{i}"]
        assert part["spend"].sum() == pytest.approx(wide[f"Channel{i}_spend"].sum(), rel=1e-12)
        assert part["impressions"].sum() == wide[f"Channel{i}_impression"].round().sum()
    outcomes = parsed.tables["marketing_outcomes"].sort_values("date")
    assert len(outcomes) == 156
    expected = (wide["conversions"] * wide["revenue_per_conversion"]).to_numpy()
    assert outcomes["revenue"].to_numpy() == pytest.approx(expected, rel=1e-9)
    assert {"competitor_sales_control", "sentiment_score_control", "Promo"} <= set(outcomes.columns)


def test_rows_dropped_by_the_mapping_are_counted_in_the_check_and_the_ledger(tmp_path):
    from retail_pipeline.ingest.ingest import check_file, ingest_file
    from retail_pipeline.ingest.ledger import Ledger
    from retail_pipeline.platform.layout import DataLayout

    path = tmp_path / "lines.csv"
    path.write_text("Id,Sku,Qty,Price,Day\n1,A,2,1.5,2024-01-02\n2,POST,1,3.0,2024-01-02\n"
                    "3,B,1,0.0,2024-01-03\n4,POST,1,3.0,2024-01-03\n")
    spec = {"entity": "transactions", "constants": {"shop_id": "s", "payment_method": "card"},
            "columns": {"Id": "transaction_id", "Sku": "product_id", "Qty": "quantity", "Price": "actual_price",
                        "Day": "transaction_date"},
            "drop_rows": [{"column": "Sku", "equals": "POST"}, {"column": "Price", "matches": r"0(\.0+)?"}]}
    mapping = Mapping.from_dict(spec, "m.yaml")
    check = check_file(path, mapping)
    assert check.rows == {"transactions": 1} and sum(check.dropped.values()) == 3
    assert sorted(check.dropped.values()) == [1, 2]
    assert "3 rows dropped by the mapping" in check.summary()
    layout = DataLayout(tmp_path / "data")
    result = ingest_file(path, layout, mapping)
    assert "3 rows dropped by the mapping" in result.summary
    assert sum(Ledger(layout.store).get(result.sha256)["dropped_by_mapping"].values()) == 3
