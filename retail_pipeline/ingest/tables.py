"""Reading an upload's rows into a table of text, fast, with exact row numbers on failure.

Everything is read as text first (no type guessing) so that the contract, not the reader,
decides what a valid number or date is, and so that ``=SUM(A1)`` in a CSV stays the literal
text it was. A workbook cell is read as the value Excel shows (see ``xlsx_sheets``). CSV goes through pyarrow's multi-threaded reader; only when that reader refuses the
file (ragged or cut-off rows, an unclosed quote) or when blank lines would shift the row
numbers does the slower :mod:`csv` module re-read it, because it can say which row is wrong.

Row numbers are the ones a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from retail_pipeline.contract import MAX_REPORTED, ContractError, Problem

DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}


@dataclass
class RawTable:
    """Rows of text with the header as it appears in the file (names stripped)."""

    frame: pd.DataFrame
    header: list[str]
    rows: np.ndarray | None = None  # source row of each frame row; None: 2, 3, 4, ...
    sheet: str | None = None
    # .xlsx only: column -> which rows held an Excel date (not text); their cells are ISO text
    date_cells: dict[str, np.ndarray] | None = None

    def row_numbers(self) -> np.ndarray:
        if self.rows is not None:
            return self.rows
        return np.arange(2, 2 + len(self.frame))


def delimiter_name(delimiter: str) -> str:
    return _NAMES.get(delimiter, repr(delimiter))


HEADER_PREFIX = 65536  # the header is read from this many first bytes


def header_cut(data: bytes) -> bool:
    """Whether the first line is longer than the prefix the header is read from."""
    return len(data) > HEADER_PREFIX and b"\n" not in data[:HEADER_PREFIX]


def first_record(data: bytes, delimiter: str) -> list[str]:
    """The header row split on ``delimiter`` (quoted names allowed)."""
    head = data[:HEADER_PREFIX].decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(head), delimiter=delimiter)
    try:
        return [name.strip() for name in next(reader, [])]
    except csv.Error:
        return [head.splitlines()[0]] if head else []


def guess_delimiter(data: bytes) -> str:
    """The candidate that splits the header into the most fields."""
    return max(DELIMITERS, key=lambda d: (len(first_record(data, d)), d == ","))


def read_csv(data: bytes, file: str, delimiter: str, header: list[str],
             verify: Callable[[], None] | None = None) -> RawTable:
    """All rows as text; raises ContractError naming the rows that cannot be split.

    ``verify`` (the byte check, e.g. UTF-8) runs before any read that does not itself
    prove the bytes are valid: pyarrow's string conversion checks the UTF-8 of every cell,
    so a file read by the first path below needs no separate pass over its bytes.
    """
    verify = verify or (lambda: None)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        verify()
        raise ContractError([Problem(file, 1, name, None, f"column '{name}' appears more than once in the header")
                             for name in duplicated])
    if len(header) > 1 and _unquoted_body(data):
        # Every line after the header is a record, and pyarrow, told not to skip blank
        # lines, returns them as rows with every field empty: when there is no such row
        # there is no blank line (which would shift the row numbers), found without a
        # search of the bytes.
        try:
            found = _read_fast(data, delimiter, header, newlines_in_values=False, with_header=True)
        except pa.ArrowInvalid:
            found = None  # ragged rows or bad bytes: the checks below say which
        if found is not None:
            return found
    quotes, spanning = quote_shape(data)
    if len(header) > 1 and quotes and quotes % 2 == 0:  # an odd count means an unclosed quote
        # quoted values (e.g. names with commas): the same read as above, newlines allowed
        # inside quotes; blank lines are found on the rows pyarrow returns (cheaper than a
        # search of the bytes) and every cell's UTF-8 is checked by the read itself
        # (a quote-aware split of the rows cannot run in parallel: only asked for when a
        # quoted value really spans lines)
        try:
            found = _read_fast(data, delimiter, header, newlines_in_values=spanning, with_header=True)
        except pa.ArrowInvalid:
            found = None
        if found is not None:
            return found
    verify()
    blank_lines = b"\n\n" in data or b"\n\r\n" in data
    if not blank_lines and quotes % 2 == 0:  # an odd count means an unclosed quote
        try:
            return _read_fast(data, delimiter, header, newlines_in_values=quotes > 0)
        except pa.ArrowInvalid:
            pass  # ragged/truncated rows: re-read slowly to say which rows
    return _read_exact(data, file, delimiter, header)


def _read_fast(data: bytes, delimiter: str, header: list[str], newlines_in_values: bool,
               with_header: bool = False) -> RawTable | None:
    """pyarrow's multi-threaded reader, every column as text.

    ``with_header``: the header line is read as a row too (so its bytes are checked like
    every other cell's) and dropped, and blank lines are kept as rows of empty fields:
    returns None when there is such a row (it may be a blank line).
    """
    names = [f"c{i}" for i in range(len(header))]
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=0 if with_header else 1,
                                       block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values,
                                         ignore_empty_lines=not with_header),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.large_string() for n in names},  # pandas' own layout
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    if with_header:
        table = table.slice(1)
        if _has_empty_row(table):
            return None
    text = pd.StringDtype("pyarrow", np.nan)  # pandas 3 "str", zero-copy over the arrow data
    frame = pd.DataFrame({f"c{i}": pd.Series(table.column(i), dtype=text) for i in range(len(header))})
    frame.columns = header
    return RawTable(frame, header)


def quote_shape(data: bytes) -> tuple[int, bool]:
    """How many quote characters there are (odd: one is left open) and whether some quoted
    value holds a line break.

    Walks the quotes only (an escaped ``""`` pairs up like two quoted values with nothing
    between them), so it costs a few milliseconds on a file with tens of thousands of quoted
    values instead of passes over every byte.
    """
    count, spanning = 0, False
    start = data.find(b'"')
    while start >= 0:
        end = data.find(b'"', start + 1)
        if end < 0:
            return count + 1, True
        count += 2
        spanning = spanning or data.find(b"\n", start, end) >= 0
        start = data.find(b'"', end + 1)
    return count, spanning


def newline_in_quotes(data: bytes) -> bool:
    """Whether some quoted value holds a line break (or a quote is left open)."""
    return quote_shape(data)[1]


def _unquoted_body(data: bytes) -> bool:
    """No quote after the first line (quoted header names are common), and that line is
    one record: no quote left open and no lone carriage return in it."""
    end = data.find(b"\n")
    if end < 0:
        return b'"' not in data
    if data.find(b'"', end) >= 0:
        return False
    head = data[:end].removesuffix(b"\r")
    return head.count(b'"') % 2 == 0 and (b"\r" not in head or b'"' not in head)


def _has_empty_row(table: pa.Table) -> bool:
    empty = None
    for column in table.columns:
        blank = pc.fill_null(pc.equal(column, ""), True)
        empty = blank if empty is None else pc.and_(empty, blank)
        if not pc.any(empty).as_py():
            return False
    return True


def _read_exact(data: bytes, file: str, delimiter: str, header: list[str]) -> RawTable:
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    width = len(header)
    records: list[list[str]] = []
    rows: list[int] = []
    problems: list[Problem] = []
    total = 0
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if number == 1 or not record or record == [""]:
                continue  # header, or a blank line (kept in the numbering)
            if len(record) != width:
                total += 1
                if len(problems) < MAX_REPORTED:
                    # no value: the row's cells are not offending one by one, and a report
                    # must not echo file content beyond offending cell values
                    problems.append(Problem(file, number, None, None,
                                            f"row has {len(record)} fields but the header has {width}"))
                continue
            records.append(record)
            rows.append(number)
    except csv.Error as exc:
        total += 1
        problems.append(Problem(file, number + 1, None, None,
                                f"the row cannot be read ({exc}): an unclosed quote, or the file was cut off"))
    if problems:
        last = problems[-1]
        ends_cut = not text.endswith(("\n", "\r"))
        if ends_cut and last.row == number and "fields" in last.rule:
            problems[-1] = Problem(file, last.row, None, last.value,
                                   f"truncated last line: {last.rule}; the file ends without a line "
                                   "break, was the upload cut off?")
        raise ContractError(problems, total)
    columns = list(zip(*records, strict=True)) if records else [() for _ in header]
    frame = pd.DataFrame({f"c{i}": pd.array(list(col), dtype="str") for i, col in enumerate(columns)})
    frame.columns = header
    return RawTable(frame, header, np.asarray(rows, dtype=np.int64))


class Uncached:
    """A formula cell the workbook holds no calculated value for (never its formula text)."""

    def __str__(self) -> str:
        return "<formula without a saved value>"


UNCACHED = Uncached()


def _cell_text(value) -> str:
    """The text Excel shows for a cell value read with its cached (calculated) value.

    Whole numbers lose the ``.0`` of their float (an id 1234.0 is ``1234``), other numbers
    keep Excel's 15 significant digits (``0.1 + 0.2`` is ``0.3``); date cells become ISO
    dates (``2024-03-01``, or ``2024-03-01 10:30:00`` when the time is not midnight,
    rounded to the second as Excel shows it), whatever a mapping's ``date_format`` says.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if isinstance(value, dt.datetime):
        value = _to_second(value)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.time):
        return _to_second(dt.datetime.combine(dt.date(2000, 1, 1), value)).time().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _to_second(value: dt.datetime) -> dt.datetime:
    """Excel stores times as fractions of a day: 10:30 may come back as 10:29:59.999999."""
    whole = value.replace(microsecond=0)
    return whole + dt.timedelta(seconds=1) if value.microsecond >= 500_000 else whole


def _is_date(value) -> bool:
    return isinstance(value, dt.date | dt.time)


@dataclass
class Sheet:
    """One worksheet: its header (first non-empty row) and the rows below it, read lazily.

    ``_rows`` yields ``(row number, cell values)``; a formula cell without a saved value is
    ``UNCACHED`` and refused by ``read`` with its sheet, row and column.
    """

    name: str
    header: list[str]
    header_row: int
    _rows: Iterator[tuple[int, tuple]]
    file: str = ""

    def read(self) -> RawTable:
        records, numbers = [], []
        width = len(self.header)
        dated: dict[int, list[int]] = {}  # column -> positions (in records) of Excel date cells
        problems: list[Problem] = []
        uncached = 0
        for number, values in self._rows:
            values = values[:width]
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            for i, value in enumerate(values):
                if value is UNCACHED:
                    uncached += 1
                    if len(problems) < MAX_REPORTED:
                        problems.append(_uncached_problem(self.file, self.name, number, i, self.header))
                elif _is_date(value):
                    dated.setdefault(i, []).append(len(records))
            cells = [_cell_text(v) for v in values]
            cells += [""] * (width - len(cells))
            records.append(cells)
            numbers.append(number)
        if problems:
            raise ContractError(problems, uncached)
        columns = list(zip(*records, strict=True)) if records else [() for _ in self.header]
        frame = pd.DataFrame({f"c{i}": pd.array(list(col), dtype="str") for i, col in enumerate(columns)})
        frame.columns = self.header
        date_cells = {}
        for i, positions in dated.items():
            mask = np.zeros(len(records), dtype=bool)
            mask[positions] = True
            date_cells[self.header[i]] = mask
        return RawTable(frame, self.header, np.asarray(numbers, dtype=np.int64), sheet=self.name,
                        date_cells=date_cells)


def _uncached_problem(file: str, sheet: str, row: int, index: int, header: list[str]) -> Problem:
    from openpyxl.utils import get_column_letter

    letter = get_column_letter(index + 1)
    name = header[index] if index < len(header) and header[index] else ""
    column = f"{name} ({letter})" if name else letter
    return Problem(file, row, column, None,
                   f"a formula without a saved value in sheet '{sheet}' (the workbook was written by "
                   "a program that does not calculate): open it in Excel or LibreOffice and save it, "
                   "so the values it shows are stored")


def xlsx_sheets(data: bytes, file: str) -> Iterator[Sheet]:
    """Each worksheet with its first non-empty row as header.

    Cells are read as the values Excel shows: a formula cell gives its cached (last
    calculated) value, never its formula text, and a formula cell without one is an error
    naming its sheet, row and column (see ``Sheet.read``).
    """
    import openpyxl  # imported lazily: only workbooks need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is not a workbook raises many kinds of errors
        raise ContractError([Problem(file, None, None, None,
                                     f"the file is a zip archive but not a readable .xlsx workbook ({exc})")]) from exc
    for sheet in book.worksheets:
        rows = _sheet_rows(sheet)
        for number, values in rows:
            if values and any(v is not None and str(v).strip() for v in values):
                for i, value in enumerate(values):
                    if value is UNCACHED:
                        raise ContractError([_uncached_problem(file, sheet.title, number, i, [])])
                header = [_cell_text(v).strip() for v in values]
                while header and not header[-1]:
                    header.pop()
                yield Sheet(sheet.title, header, number, rows, file)
                break
        else:
            yield Sheet(sheet.title, [], 0, iter(()), file)


def _sheet_rows(sheet) -> Iterator[tuple[int, tuple]]:
    """``(row number, values)`` of each stored row of a read-only worksheet, cached values
    only; rows the file does not store (empty) are skipped, numbers stay the sheet's."""
    from openpyxl.worksheet._reader import WorkSheetParser

    class CachedValues(WorkSheetParser):
        def parse_cell(self, element):
            cell = super().parse_cell(element)
            if cell["value"] is None and element.find(_FORMULA) is not None:
                # An empty <v/> is a saved value only for a text result (t="str", e.g. =""):
                # programs that do not calculate (openpyxl) write <f>..</f><v/> untyped.
                saved = element.find(_VALUE)
                if saved is None or element.get("t", "n") not in ("str", "s", "inlineStr"):
                    cell["value"] = UNCACHED
                else:
                    cell["value"] = ""
            return cell

    if not hasattr(sheet, "_get_source"):  # chartsheets have no cells
        return
    book = sheet.parent
    with sheet._get_source() as source:
        parser = CachedValues(source, sheet._shared_strings, data_only=True, epoch=book.epoch,
                              date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
        for number, cells in parser.parse():
            if not cells:
                continue
            values = [None] * max(cell["column"] for cell in cells)
            for cell in cells:
                values[cell["column"] - 1] = cell["value"]
            yield number, tuple(values)


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_FORMULA, _VALUE = f"{_MAIN}f", f"{_MAIN}v"
