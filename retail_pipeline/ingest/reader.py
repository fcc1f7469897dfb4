"""From an upload's bytes to validated contract tables, or the list of what is wrong.

This is the single read path used by ``check`` (no writes) and by ingestion, so a file
that ``check`` accepts is exactly a file that ingestion accepts. Order of the checks:
bytes (gzip, binary, UTF-8), header (which format, delimiter), rows (ragged, truncated),
then every contract rule on every row (``contract.validate_rows``).

Partial acceptance: when the rows that break a contract rule are at most ``max_bad_share``
of the file's rows (``RETAIL_MAX_BAD_ROW_SHARE``, 1% by default; 0 with
``RETAIL_STRICT_UPLOADS`` or ``--strict``), the file is accepted without them and
``Parsed.rejected`` lists each problem of those rows (row, column, value, rule); above it
the whole file is rejected. Problems of the whole file (bytes, header, a converter that
cannot read a line) always reject it.

Hostile input is refused before it can use much memory: more data than
``RETAIL_MAX_UPLOAD_MB`` after decompression (see :mod:`sniff`), or a header (or first
sheet row) with more than ``RETAIL_MAX_COLUMNS`` columns, which is checked on the header
alone, before a single row is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.contract import (
    ENTITIES,
    MAX_REPORTED,
    ContractError,
    Problem,
    RuleCount,
)
from retail_pipeline.contract.validation import EXAMPLES_PER_RULE, validate_rows
from retail_pipeline.ingest import convert, formats, sniff, tables
from retail_pipeline.ingest.fast_validate import validate_fast
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.platform import settings


@dataclass
class Parsed:
    """Validated tables (entity -> canonical DataFrame) and how the file was understood."""

    file: str
    format: str  # e.g. "daily_sales (csv+gzip)"
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sheet: str | None = None
    rows: int = 0  # data rows of the file that became contract rows
    bad_rows: int = 0  # of those, rows left out because they break a rule (partial acceptance)
    rejected: pd.DataFrame | None = None  # entity, row, column, value, rule of every problem
    problems: list[Problem] = field(default_factory=list)  # the first problems of the bad rows
    total_problems: int = 0
    by_rule: dict[str, RuleCount] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # mapping drop_rows condition -> rows left out

    @property
    def partial(self) -> bool:
        return self.bad_rows > 0


class UploadRejected(ContractError):
    """A ContractError that also says how far the file was understood (and, when rows broke
    the contract, every problem of those rows and how many rows they were)."""

    def __init__(self, error: ContractError, format: str | None, entity: str | None,
                 rejected: pd.DataFrame | None = None, bad_rows: int = 0, rows: int = 0,
                 max_bad_share: float = 0.0):
        super().__init__(error.problems, error.total, error.by_rule)
        self.format, self.entity = format, entity
        self.rejected, self.bad_rows, self.rows, self.max_bad_share = rejected, bad_rows, rows, max_bad_share

    @property
    def share_text(self) -> str:
        """Why the whole file was rejected although rows can be left out ("" when not row problems)."""
        if not self.bad_rows or not self.rows:
            return ""
        return (f"{self.bad_rows:,} of {self.rows:,} rows ({self.bad_rows / self.rows:.2%}) break the contract; "
                f"at most {self.max_bad_share:.2%} may be left out (RETAIL_MAX_BAD_ROW_SHARE"
                f"{', strict' if self.max_bad_share == 0 else ''})")


REJECTED_COLUMNS = ["row", "entity", "column", "value", "rule"]


def _merge_counts(by_rule: dict[str, RuleCount], more: dict[str, RuleCount]) -> None:
    for kind, counted in more.items():
        merged = by_rule.setdefault(kind, RuleCount())
        merged.count += counted.count
        merged.examples = (merged.examples + counted.examples)[:EXAMPLES_PER_RULE]


def read_upload(raw: bytes, file: str, mapping: Mapping | None = None,
                max_bytes: int | None = None, max_columns: int | None = None,
                max_bad_share: float | None = None) -> Parsed:
    """Parse and validate ``raw`` (the upload's bytes); raises UploadRejected.

    ``max_bytes``, ``max_columns`` and ``max_bad_share`` default to ``RETAIL_MAX_UPLOAD_MB``,
    ``RETAIL_MAX_COLUMNS`` and ``RETAIL_MAX_BAD_ROW_SHARE`` (0 when ``RETAIL_STRICT_UPLOADS``).
    """
    label, entity = None, mapping.entity if mapping else None
    max_columns = settings.max_columns() if max_columns is None else max_columns
    max_bad_share = settings.max_bad_row_share() if max_bad_share is None else max_bad_share
    try:
        unpacked = sniff.unpack(raw, file, mapping.encoding if mapping else "utf-8", check=False,
                                max_bytes=max_bytes)
        label = unpacked.label
        if unpacked.container == "xlsx":
            raw_table, found = _pick_sheet(unpacked.data, file, mapping, max_columns)
        else:
            # The UTF-8 check comes first, as if it ran before anything else; it is only
            # run when the reader does not prove the bytes valid itself (see read_csv).
            verify = _Utf8Check(unpacked, file)
            try:
                raw_table, found = _read_text(sniff.strip_bom(unpacked.data), file, mapping, verify,
                                              max_columns)
            except ContractError:
                label = None  # the byte check refuses the file as if while unpacking
                verify()
                if not verify.failed:
                    label = unpacked.label
                raise
        entity = found.entity
        label = f"{found.format} ({unpacked.label})"
        parts = convert.entity_frames(found, raw_table, file, mapping)
        return _validate_parts(parts, file, label, raw_table.sheet, entity, max_bad_share)
    except UploadRejected:
        raise
    except ContractError as exc:
        raise UploadRejected(exc, label, entity) from None


def _distinct(rows: list[np.ndarray]) -> int:
    """How many distinct source rows ``rows`` name (parts made from the same lines share them,
    and one line may give several rows of a part)."""
    rows = [r for r in rows if len(r)]
    if not rows:
        return 0
    seen = np.zeros(max(int(r.max()) for r in rows) + 1, dtype=bool)
    for r in rows:
        seen[r] = True
    return int(seen.sum())


def _validate_parts(parts, file: str, label: str, sheet: str | None, entity: str | None,
                    max_bad_share: float) -> Parsed:
    """Every part checked row by row; the bad rows left out when they are few enough."""
    validated: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    total, by_rule, rejected, bad_rows, all_rows = 0, {}, [], [], []
    for part in parts:
        rows = np.arange(2, 2 + len(part.frame)) if part.rows is None else np.asarray(part.rows)
        all_rows.append(rows)
        fast = validate_fast(part.frame, part.entity, part.date_format)
        if fast is not None:
            validated[part.entity] = fast
            continue
        try:
            checked = validate_rows(part.frame, part.entity, file, date_format=part.date_format, rows=part.rows)
        except ContractError as exc:  # a problem of the whole part (e.g. a missing column)
            problems += exc.problems
            total += exc.total
            _merge_counts(by_rule, exc.by_rule)
            continue
        validated[part.entity] = checked.valid
        if checked.total:
            problems += checked.problems
            total += checked.total
            _merge_counts(by_rule, checked.by_rule)
            rejected.append(checked.rejected.assign(entity=part.entity)[REJECTED_COLUMNS])
            bad_rows.append(rows[checked.bad])
    n_bad = _distinct(bad_rows)
    n_rows = _distinct(all_rows)
    listed = pd.concat(rejected, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True) \
        if rejected else None
    if problems and (n_bad == 0 or total > sum(len(r) for r in rejected)):
        # some problem concerns a whole part, not rows: the file is rejected whole
        raise UploadRejected(ContractError(problems[:MAX_REPORTED], total, by_rule), label, entity, listed)
    if n_bad and (n_bad > max_bad_share * n_rows or all(len(f) == 0 for f in validated.values())):
        raise UploadRejected(ContractError(problems[:MAX_REPORTED], total, by_rule), label, entity, listed,
                             n_bad, n_rows, max_bad_share)
    tables = {e: f for e, f in validated.items() if len(f) or not n_bad}
    dropped: dict[str, int] = {}
    for part in parts:  # rows a mapping's drop_rows left out on purpose (not problems)
        for condition, count in getattr(part, "dropped_by", {}).items():
            dropped[condition] = dropped.get(condition, 0) + count
    return Parsed(file, label, tables, sheet, n_rows, n_bad, listed, problems[:MAX_REPORTED], total, by_rule,
                  dropped)


class _Utf8Check:
    """The UTF-8 check of the unpacked text, run at most once and only when needed."""

    def __init__(self, unpacked: sniff.Unpacked, file: str):
        self.unpacked, self.file = unpacked, file
        self.done, self.failed = unpacked.verified, False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            try:
                sniff.check_utf8(self.unpacked.data, self.file)
            except ContractError:
                self.failed = True
                raise


def check_width(width: int, file: str, max_columns: int, cut: bool = False,
                sheet: str | None = None) -> None:
    """Refuse a header with more than ``max_columns`` columns (before any row is read)."""
    if width > max_columns:
        where = f"the first row of sheet '{sheet}'" if sheet else "the header"
        raise ContractError([Problem(file, 1, None, None,
                                     f"{where} has {'more than ' if cut else ''}{width:,} columns; "
                                     f"at most {max_columns:,} are accepted (RETAIL_MAX_COLUMNS)")])


def _read_text(data: bytes, file: str, mapping: Mapping | None, verify: Callable[[], None],
               max_columns: int):
    delimiter = mapping.delimiter if mapping else ","
    header = tables.first_record(data, delimiter)
    check_width(len(header), file, max_columns, cut=tables.header_cut(data))
    if mapping:
        found = formats.Recognised("mapping", mapping.entity)
        if not mapping.fits(header):
            _check_delimiter(data, file, header, delimiter)
    else:
        found = formats.recognise(header)
        if found is None:
            _check_delimiter(data, file, header, delimiter)
            nearest = formats.nearest_entity(header)
            if nearest is None:
                raise ContractError([Problem(file, 1, None, ", ".join(header)[:200],
                                             "unrecognised header: expected the columns of "
                                             f"{formats.expected_headers()}; for any other export "
                                             "give a mapping file (--mapping)")])
            # most of an entity's columns: let the contract name the missing ones
            found = formats.Recognised("canonical", nearest,
                                       formats._rename_to_contract(header, _columns(nearest)))
    return tables.read_csv(data, file, delimiter, header, verify), found


def _columns(entity: str) -> list[str]:
    return ENTITIES[entity].column_names


def _check_delimiter(data: bytes, file: str, header: list[str], delimiter: str) -> None:
    guess = tables.guess_delimiter(data)
    if guess != delimiter and len(tables.first_record(data, guess)) > max(1, len(header)):
        raise ContractError([Problem(
            file, 1, None, ", ".join(header)[:200],
            f"the delimiter looks like {tables.delimiter_name(guess)}, not "
            f"{tables.delimiter_name(delimiter)}: export the file comma-separated, or give a "
            f"mapping file with delimiter: {guess!r}")])


def _pick_sheet(data: bytes, file: str, mapping: Mapping | None, max_columns: int):
    seen = []
    for sheet in tables.xlsx_sheets(data, file):
        check_width(len(sheet.header), file, max_columns, sheet=sheet.name)
        if mapping:
            if (mapping.sheet is None or sheet.name == mapping.sheet) and mapping.fits(sheet.header):
                return sheet.read(), formats.Recognised("mapping", mapping.entity)
        else:
            found = formats.recognise(sheet.header)
            if found is not None:
                return sheet.read(), found
        seen.append(f"'{sheet.name}' ({', '.join(sheet.header)[:120] or 'empty'})")
    wanted = (f"the columns {', '.join(mapping.referenced())} of the mapping" if mapping
              else f"the columns of {formats.expected_headers()}")
    raise ContractError([Problem(file, None, None, None,
                                 f"no usable sheet in the workbook: sheets {'; '.join(seen) or 'none'}; "
                                 f"expected a sheet whose first row has {wanted}")])
