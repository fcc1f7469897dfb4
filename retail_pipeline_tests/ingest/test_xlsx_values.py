"""Workbook cells are read as the values Excel shows, never as formula text (issue 10).

openpyxl writes formulas without a calculated value, so the workbooks with cached values
here are written by hand: a minimal .xlsx is a zip of a few XML parts, and a formula cell
holds both ``<f>`` (the formula) and ``<v>`` (the value Excel saved).
"""

import datetime as dt
import io
import zipfile
from xml.sax.saxutils import escape

import openpyxl
import pandas as pd
import pytest

from retail_pipeline.ingest import tables
from retail_pipeline.ingest.ingest import check_file, ingest_file
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.store import TableStore
from retail_pipeline_tests.ingest.helpers import drop

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
DATE_STYLE, DATETIME_STYLE = 1, 2  # cellXfs below: built-in formats 14 (m/d/yyyy) and 22 (m/d/yy h:mm)
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def serial(value: dt.datetime) -> float:
    """Excel's day number of a date-time (what a date cell stores)."""
    return (value - EXCEL_EPOCH) / dt.timedelta(days=1)


class F:
    """A formula cell; ``cached`` is the value Excel saved (None: not calculated)."""

    def __init__(self, formula: str, cached=None):
        self.formula, self.cached = formula, cached


class D:
    """A date cell (a serial number with a date style)."""

    def __init__(self, value: dt.datetime, with_time: bool = False):
        self.value, self.style = value, DATETIME_STYLE if with_time else DATE_STYLE


def _cell(ref: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, F):
        formula = f"<f>{escape(value.formula)}</f>"
        if value.cached is None:
            return f'<c r="{ref}">{formula}</c>'
        if isinstance(value.cached, str):
            return f'<c r="{ref}" t="str">{formula}<v>{escape(value.cached)}</v></c>'
        return f'<c r="{ref}">{formula}<v>{value.cached!r}</v></c>'
    if isinstance(value, D):
        return f'<c r="{ref}" s="{value.style}"><v>{serial(value.value)!r}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def handmade_xlsx(rows: list[list], sheet: str = "Sales") -> bytes:
    """A minimal workbook of one sheet, with formulas and their cached values as given."""
    body = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{openpyxl.utils.get_column_letter(c)}{r}", v) for c, v in enumerate(row, start=1))
        body.append(f'<row r="{r}">{cells}</row>')
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'),
        "_rels/.rels": (
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            f'<sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PKG}">'
            f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font>'
            '</fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
            '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
            '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '</styleSheet>'),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}"><sheetData>{"".join(body)}</sheetData></worksheet>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + xml)
    return out.getvalue()


HEADER = ["Line", "Invoice", "Pos", "Item", "Qty", "Price", "Date", "Pay"]
MAPPING = {"entity": "transactions",
           "columns": {"Line": "transaction_id", "Item": "product_id", "Qty": "quantity", "Price": "actual_price",
                       "Date": "transaction_date", "Pay": "payment_method"},
           "constants": {"shop_id": "S1"}}


def week(invoices: list[tuple[str, int]], day: dt.datetime) -> list[list]:
    """Invoice lines whose id is the formula ``=B<n>&"-"&C<n>`` (invoice-position), with the
    value Excel calculated for it; the formula texts are the same every week."""
    rows = [HEADER]
    for invoice, lines in invoices:
        for position in range(1, lines + 1):
            n = len(rows) + 1
            rows.append([F(f'B{n}&"-"&C{n}', f"{invoice}-{position}"), invoice, position, f"P{position}",
                         position, 2.5, D(day), "card"])
    return rows


def stored_lines(layout) -> pd.DataFrame:
    return TableStore(layout.store).read("transactions")


def test_formula_ids_store_their_values_and_a_second_week_adds_rows(layout, tmp_path):
    mapping = Mapping.from_dict(MAPPING, "lines.yaml")
    first = week([("A100", 3), ("A101", 2)], dt.datetime(2024, 3, 4))
    second = week([("A200", 2), ("A201", 2)], dt.datetime(2024, 3, 11))
    # the defect: the same formula texts in both weeks' id cells
    assert [r[0].formula for r in first[1:5]] == [r[0].formula for r in second[1:5]]
    one = ingest_file(drop(layout, "week1.xlsx", handmade_xlsx(first)), layout, mapping=mapping)
    assert one.status == "accepted", one.summary
    two = ingest_file(drop(layout, "week2.xlsx", handmade_xlsx(second)), layout, mapping=mapping)
    assert two.status == "accepted", two.summary
    stored = stored_lines(layout)
    expected = [r[0].cached for r in first[1:]] + [r[0].cached for r in second[1:]]
    assert sorted(stored["transaction_id"]) == sorted(expected)  # 5 + 4 rows, none replaced
    assert len(stored) == 9
    assert not stored.astype("str").apply(lambda c: c.str.startswith("=")).any().any()


def test_a_formula_without_a_cached_value_is_an_error_naming_sheet_row_and_column(tmp_path):
    rows = week([("A100", 2)], dt.datetime(2024, 3, 4))
    rows[2][0] = F('B3&"-"&C3')  # not calculated: no saved value
    path = tmp_path / "lines.xlsx"
    path.write_bytes(handmade_xlsx(rows, sheet="Kasse"))
    result = check_file(path, Mapping.from_dict(MAPPING, "lines.yaml"))
    assert not result.accepted
    [problem] = result.problems
    assert (problem.file, problem.row, problem.column) == ("lines.xlsx", 3, "Line (A)")
    assert "sheet 'Kasse'" in problem.rule and "formula without a saved value" in problem.rule
    assert "B3" not in str(problem) and problem.value is None  # never the formula text


def test_openpyxl_workbooks_with_formulas_are_refused_not_stored_as_text(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Sales"
    book.active.append(HEADER)
    book.active.append(["=B2&C2", "A1", 1, "P1", 1, 2.5, dt.datetime(2024, 3, 4), "card"])
    book.active.append(["X-2", "A1", 2, "P2", 1, 2.5, dt.datetime(2024, 3, 4), "=UPPER(\"card\")"])
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "book.xlsx"
    path.write_bytes(out.getvalue())
    result = check_file(path, Mapping.from_dict(MAPPING, "lines.yaml"))
    assert [(p.row, p.column) for p in result.problems] == [(2, "Line (A)"), (3, "Pay (H)")]
    assert result.total_problems == 2


def test_a_formula_with_an_empty_text_result_is_an_empty_cell(tmp_path):
    rows = week([("A100", 2)], dt.datetime(2024, 3, 4))
    rows[1][7] = F('IF(1,"","x")', "")  # Excel saves <v></v> with t="str"
    sheet = next(tables.xlsx_sheets(handmade_xlsx(rows), "f.xlsx"))
    raw = sheet.read()
    assert raw.frame["Pay"].tolist() == ["", "card"]


def test_dates_are_the_dates_excel_shows_whatever_date_format_says(tmp_path):
    rows = [HEADER,
            [F("1+0", 1.0), "A", 1, "P1", 1, 2.5, D(dt.datetime(2024, 3, 1)), "card"],
            [F("1+1", 2.0), "A", 2, "P1", 1, 2.5, D(dt.datetime(2024, 3, 1, 10, 30), with_time=True), "card"],
            [3, "A", 3, "P1", 1, 2.5, "05.03.2024 08:15", "card"]]  # a text date in the mapping's format
    spec = {**MAPPING, "date_format": "%d.%m.%Y %H:%M"}
    path = tmp_path / "dated.xlsx"
    path.write_bytes(handmade_xlsx(rows))
    result = check_file(path, Mapping.from_dict(spec, "dated.yaml"))
    assert result.accepted, result.problems
    raw = next(tables.xlsx_sheets(path.read_bytes(), "dated.xlsx")).read()
    assert raw.frame["Date"].tolist() == ["2024-03-01", "2024-03-01 10:30:00", "05.03.2024 08:15"]
    assert raw.frame["Line"].tolist() == ["1", "2", "3"]  # 1.0 as Excel shows it
    parts = Mapping.from_dict(spec, "dated.yaml").frames(raw, "dated.xlsx")
    assert parts[0].frame["transaction_date"].tolist() == ["01.03.2024 00:00", "01.03.2024 10:30",
                                                           "05.03.2024 08:15"]


@pytest.mark.parametrize(("value", "shown"), [
    (1234.0, "1234"), (0.1 + 0.2, "0.3"), (2.5, "2.5"), (7, "7"), (None, ""), (True, "true"),
    (dt.datetime(2024, 3, 1), "2024-03-01"), (dt.datetime(2024, 3, 1, 10, 29, 59, 999_600), "2024-03-01 10:30:00"),
    (dt.time(8, 15), "08:15:00"), ("  text ", "  text "),
])
def test_cell_text_is_what_excel_shows(value, shown):
    assert tables._cell_text(value) == shown


def test_rows_keep_the_sheet_numbers_after_blank_rows():
    rows = week([("A100", 2)], dt.datetime(2024, 3, 4))
    rows.insert(2, [None] * len(HEADER))
    raw = next(tables.xlsx_sheets(handmade_xlsx(rows), "f.xlsx")).read()
    assert raw.row_numbers().tolist() == [2, 4]
    assert raw.frame["Line"].tolist() == ["A100-1", "A100-2"]
