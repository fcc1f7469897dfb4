"""Reading an upload's rows into a table of text, fast, with exact row numbers on failure.

Everything is read as text first (no type guessing) so that the contract, not the reader,
decides what a valid number or date is, and so that ``=SUM(A1)`` stays the literal text it
was. CSV goes through pyarrow's multi-threaded reader; only when that reader refuses the
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
    verify()
    quotes = data.count(b'"') if b'"' in data else 0
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


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


@dataclass
class Sheet:
    name: str
    header: list[str]
    header_row: int
    _rows: Iterator[tuple]

    def read(self) -> RawTable:
        records, numbers = [], []
        width = len(self.header)
        for number, values in enumerate(self._rows, start=self.header_row + 1):
            if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            cells = [_cell_text(v) for v in values[:width]]
            cells += [""] * (width - len(cells))
            records.append(cells)
            numbers.append(number)
        columns = list(zip(*records, strict=True)) if records else [() for _ in self.header]
        frame = pd.DataFrame({f"c{i}": pd.array(list(col), dtype="str") for i, col in enumerate(columns)})
        frame.columns = self.header
        return RawTable(frame, self.header, np.asarray(numbers, dtype=np.int64), sheet=self.name)


def xlsx_sheets(data: bytes, file: str) -> Iterator[Sheet]:
    """Each worksheet with its first non-empty row as header (formulas come back as text)."""
    import openpyxl  # imported lazily: only workbooks need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # a zip that is not a workbook raises many kinds of errors
        raise ContractError([Problem(file, None, None, None,
                                     f"the file is a zip archive but not a readable .xlsx workbook ({exc})")]) from exc
    for sheet in book.worksheets:
        rows = sheet.iter_rows(values_only=True)
        for number, values in enumerate(rows, start=1):
            if values and any(v is not None and str(v).strip() for v in values):
                header = [_cell_text(v).strip() for v in values]
                while header and not header[-1]:
                    header.pop()
                yield Sheet(sheet.title, header, number, rows)
                break
        else:
            yield Sheet(sheet.title, [], 0, iter(()))
