"""Wide marketing files (one row per week, columns per channel) mapped with a ``wide:``
section become long ``marketing_spend`` rows at ingest (issue 14). The expected long table
is a pandas melt of the same file, computed here."""

import numpy as np
import pandas as pd
import pytest
import yaml

from retail_pipeline.contract import ContractError
from retail_pipeline.ingest import tables
from retail_pipeline.ingest.ingest import check_file, ingest_file
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.store import TableStore
from retail_pipeline_tests.ingest.helpers import SHARED_DATA

ROBYN = SHARED_DATA / "marketing" / "robyn_dt_simulated_weekly.csv"
ROBYN_MAPPING = {
    "entity": "marketing_spend",
    "wide": {
        "date": "DATE",
        "channels": {"tv": {"spend": "tv_S"}, "ooh": {"spend": "ooh_S"}, "print": {"spend": "print_S"},
                     "facebook": {"spend": "facebook_S", "impressions": "facebook_I"},
                     "search": {"spend": "search_S", "clicks": "search_clicks_P"}},
        "outcome": "revenue",
        "controls": ["competitor_sales_B", "events"],
    },
}


def melted(wide: pd.DataFrame, channels: dict[str, dict[str, str]], date: str) -> pd.DataFrame:
    """The long table by hand: one melt per metric, joined on date and channel."""
    out = None
    for metric in ("spend", "impressions", "clicks"):
        columns = {m[metric]: name for name, m in channels.items() if metric in m}
        long = wide.melt(id_vars=[date], value_vars=list(columns), var_name="channel", value_name=metric)
        long["channel"] = long["channel"].map(columns)
        out = long if out is None else out.merge(long, on=[date, "channel"], how="left")
    out["date"] = pd.to_datetime(out.pop(date))
    return out.sort_values(["date", "channel"], ignore_index=True)


@pytest.fixture(scope="module")
def robyn_stored(tmp_path_factory):
    from retail_pipeline.platform.layout import DataLayout

    root = tmp_path_factory.mktemp("robyn")
    layout = DataLayout(root / "data")
    layout.ensure()
    mapping = root / "robyn.yaml"
    mapping.write_text(yaml.safe_dump(ROBYN_MAPPING))
    result = ingest_file(ROBYN, layout, mapping=mapping)
    store = TableStore(layout.store)
    return result, store.read("marketing_spend"), store.read("marketing_outcomes")


def test_robyn_weekly_file_is_stored_as_the_melt_of_its_channels(robyn_stored):
    result, stored, _ = robyn_stored
    assert result.status == "accepted", result.summary
    wide = pd.read_csv(ROBYN)
    expected = melted(wide, ROBYN_MAPPING["wide"]["channels"], "DATE")
    assert result.rows == {"marketing_spend": len(wide) * 5, "marketing_outcomes": len(wide)}
    assert len(expected) == 208 * 5
    got = stored.sort_values(["date", "channel"], ignore_index=True)
    assert got["date"].tolist() == expected["date"].tolist()
    assert got["channel"].tolist() == expected["channel"].tolist()
    np.testing.assert_allclose(got["spend"].to_numpy(float), expected["spend"].to_numpy(float), rtol=1e-12)
    for metric in ("impressions", "clicks"):  # counts: rounded to whole numbers, empty for other channels
        want = expected[metric].round().astype("Int64")
        assert got[metric].astype("Int64").tolist() == want.tolist(), metric
    # the file's total revenue and its controls are per week, not per channel: not on these rows
    assert got["revenue"].isna().all() and got["reach"].isna().all() and got["conversions"].isna().all()
    assert "competitor_sales_B" not in got.columns


def test_robyn_outcome_and_controls_become_the_outcomes_series(robyn_stored):
    _, _, outcomes = robyn_stored
    wide = pd.read_csv(ROBYN, keep_default_na=False)
    got = outcomes.sort_values("date", ignore_index=True)
    assert got["date"].tolist() == pd.to_datetime(wide["DATE"]).tolist()
    np.testing.assert_allclose(got["revenue"].to_numpy(float), wide["revenue"].to_numpy(float), rtol=1e-12)
    assert got["competitor_sales_B"].astype(float).tolist() == wide["competitor_sales_B"].astype(float).tolist()
    events = sorted(set(wide["events"]) - {"na"})
    assert events == ["event1", "event2"]
    for value in events:  # a text control: one 0/1 column per value
        assert got[f"events_{value}"].astype(float).tolist() == (wide["events"] == value).astype(float).tolist()
    assert sorted(got.columns) == sorted(["date", "revenue", "competitor_sales_B", "events_event1", "events_event2"])


SEMICOLON = """Woche;TV Kosten;Suche Kosten;Suche Klicks;Suche Impressionen;Umsatz;Bestellungen;Wert je Bestellung
04.03.2024;1.200,50;300,25;40;1.000;9.000,00;10;12,5
11.03.2024;0;310;;1.100;8.000,00;8;12,5
Summe;1.200,50;610,25;40;2.100;17.000,00;18;
"""
SEMICOLON_MAPPING = {
    "entity": "marketing_spend", "delimiter": ";", "decimal": ",", "date_format": "%d.%m.%Y",
    "constants": {"campaign": "always-on"},
    "drop_rows": [{"column": "Woche", "equals": "Summe"}],
    "wide": {"date": "Woche",
             "channels": {"tv": {"spend": "TV Kosten"},
                          "search": {"spend": "Suche Kosten", "clicks": "Suche Klicks",
                                     "impressions": "Suche Impressionen"}},
             "outcome": {"conversions": "Bestellungen", "revenue_per_conversion": "Wert je Bestellung"}},
}


def test_semicolon_wide_file_with_decimal_commas_a_totals_row_and_a_constant(tmp_path):
    path = tmp_path / "woche.csv"
    path.write_text(SEMICOLON)
    mapping = Mapping.from_dict(SEMICOLON_MAPPING, "woche.yaml")
    result = check_file(path, mapping)
    assert result.accepted, result.problems
    raw = tables.read_csv(SEMICOLON.encode(), "woche.csv", ";", tables.first_record(SEMICOLON.encode(), ";"))
    part, outcomes = mapping.frames(raw, "woche.csv")
    assert outcomes.entity == "marketing_outcomes" and outcomes.rows.tolist() == [2, 3]
    # conversions x revenue per conversion, with decimal commas
    assert outcomes.frame.values.tolist() == [["2024-03-04", "125"], ["2024-03-11", "100"]]
    assert part.dropped == 1 and part.dropped_by == {"Woche equals 'Summe'": 1}
    frame = part.frame
    assert frame[["date", "channel", "spend", "clicks", "impressions", "campaign"]].values.tolist() == [
        ["2024-03-04", "search", "300.25", "40", "1000", "always-on"],
        ["2024-03-04", "tv", "1200.5", "", "", "always-on"],
        ["2024-03-11", "search", "310", "", "1100", "always-on"],
        ["2024-03-11", "tv", "0", "", "", "always-on"],
    ]
    assert part.rows.tolist() == [2, 2, 3, 3]  # each long row points at its week's row


@pytest.mark.parametrize(("line", "row", "column", "rule"), [
    ("18.03.2024;viel;1;1;1;1;1;1", 4, "TV Kosten", "is not a number"),
    ("2024-03-18;1;1;1;1;1;1;1", 4, "Woche", "is not a date in the format %d.%m.%Y"),
])
def test_bad_cells_of_a_wide_file_name_row_and_column(tmp_path, line, row, column, rule):
    path = tmp_path / "woche.csv"
    path.write_text(SEMICOLON.replace("Summe;", line + "\nSumme;", 1))
    result = check_file(path, Mapping.from_dict(SEMICOLON_MAPPING, "woche.yaml"))
    assert [(p.row, p.column, p.rule) for p in result.problems] == [(row, column, rule)]


WIDE_REJECTED = {
    "not marketing_spend": ({"entity": "transactions"}, "wide: a wide file becomes marketing_spend rows"),
    "channel without spend": ({"wide": {"date": "d", "channels": {"tv": {"impressions": "i"}}}},
                              "wide.channels.tv: needs 'spend'"),
    "unknown metric": ({"wide": {"date": "d", "channels": {"tv": {"spend": "s", "views": "v"}}}},
                       "wide.channels.tv.views: unknown key"),
    "unknown wide key": ({"wide": {"date": "d", "channels": {"tv": {"spend": "s"}}, "outcomes": "r"}},
                         "wide.outcomes: unknown key"),
    "no channels": ({"wide": {"date": "d", "channels": []}}, "wide.channels: must map each channel"),
    "no date": ({"wide": {"channels": {"tv": {"spend": "s"}}}}, "wide: needs 'date'"),
    "bad outcome": ({"wide": {"date": "d", "channels": {"tv": {"spend": "s"}}, "outcome": {"sales": "r"}}},
                    "wide.outcome: must be a revenue column"),
    "constant for a wide column": ({"constants": {"channel": "tv"}}, "constants.channel: comes from the 'wide'"),
    "key with wide": ({"key": {"columns": ["d"]}}, "key: cannot be combined with 'wide'"),
    "controls without outcome": ({"wide": {"date": "d", "channels": {"tv": {"spend": "s"}}, "controls": ["c"]}},
                                 "wide.controls: controls go with an outcome"),
}


@pytest.mark.parametrize("case", list(WIDE_REJECTED), ids=list(WIDE_REJECTED))
def test_ill_formed_wide_sections_are_named(case):
    change, message = WIDE_REJECTED[case]
    with pytest.raises(ContractError) as error:
        Mapping.from_dict({**ROBYN_MAPPING, **change}, "wide.yaml")
    rules = [p.rule for p in error.value.problems]
    assert any(rule.startswith(message) for rule in rules), rules


def test_a_wide_mapping_picks_the_sheet_and_file_with_its_columns():
    mapping = Mapping.from_dict(ROBYN_MAPPING, "robyn.yaml")
    header = pd.read_csv(ROBYN, nrows=0).columns.tolist()
    assert mapping.fits(header)
    assert not mapping.fits([c for c in header if c != "facebook_I"])


def test_a_wide_workbook_with_real_date_cells_whatever_date_format_says(tmp_path):
    import datetime as dt
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Spend"
    book.active.append(["Woche", "TV Kosten", "Suche Kosten", "Suche Klicks", "Suche Impressionen"])
    book.active.append([dt.datetime(2024, 3, 4), 1200.5, 300.25, 40, 1000])
    book.active.append(["11.03.2024", 0, 310, None, 1100])  # a text date in the mapping's format
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "spend.xlsx"
    path.write_bytes(out.getvalue())
    spec = {k: v for k, v in SEMICOLON_MAPPING.items() if k not in ("delimiter", "decimal", "drop_rows")}
    spec["wide"] = {k: v for k, v in spec["wide"].items() if k != "outcome"}  # the outcome is optional
    mapping = Mapping.from_dict(spec, "spend.yaml")
    assert check_file(path, mapping).accepted
    raw = next(tables.xlsx_sheets(path.read_bytes(), "spend.xlsx")).read()
    [part] = mapping.frames(raw, "spend.xlsx")
    assert part.frame[["date", "channel", "spend", "clicks"]].values.tolist() == [
        ["2024-03-04", "search", "300.25", "40"], ["2024-03-04", "tv", "1200.5", ""],
        ["2024-03-11", "search", "310", ""], ["2024-03-11", "tv", "0", ""]]
