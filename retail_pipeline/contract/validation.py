"""Validating a table against the contract: every problem names file, row, column, value, rule.

Validation is vectorised (one pass per rule over whole columns) because uploads can hold
millions of rows. Row numbers are the line numbers a spreadsheet shows: the header is row 1,
the first data row is row 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retail_pipeline.contract.entities import (
    DATE,
    ENTITIES,
    INTEGER,
    STRING,
    Entity,
)


@dataclass(frozen=True)
class Problem:
    """One broken rule at one place of one file."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        value = "" if self.value is None else f": value {self.value!r}"
        return f"{', '.join(where)}{value}: {self.rule}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
        }


EXAMPLES_PER_RULE = 3


def rule_kind(rule: str) -> str:
    """The rule a problem breaks, without its particulars ("duplicate key: already used on
    row 7" and "... on row 9" are both "duplicate key")."""
    return rule.split(": ", 1)[0]


@dataclass
class RuleCount:
    """How many problems break one rule, and the first few of them."""

    count: int = 0
    examples: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES_PER_RULE:
            self.examples.append(problem)

    def as_dict(self) -> dict:
        return {"count": self.count, "examples": [p.as_dict() for p in self.examples]}


def count_by_rule(problems: list[Problem]) -> dict[str, RuleCount]:
    counts: dict[str, RuleCount] = {}
    for problem in problems:
        counts.setdefault(rule_kind(problem.rule), RuleCount()).add(problem)
    return counts


def by_rule_lines(by_rule: dict[str, RuleCount]) -> list[str]:
    """One line per rule, most frequent first: count, rule, first examples."""
    lines = []
    for kind, rc in sorted(by_rule.items(), key=lambda kv: -kv[1].count):
        shown = "; ".join(str(p) for p in rc.examples)
        lines.append(f"{rc.count} x {kind} (first: {shown})")
    return lines


class ContractError(ValueError):
    """Raised when a table breaks the contract; carries the problems counted per rule (with
    the first examples of each), the first problems and the total."""

    def __init__(self, problems: list[Problem], total: int | None = None,
                 by_rule: dict[str, RuleCount] | None = None):
        self.problems = problems
        self.total = len(problems) if total is None else total
        self.by_rule = count_by_rule(problems) if by_rule is None else by_rule
        counted = "\n".join(f"  * {line}" for line in by_rule_lines(self.by_rule))
        shown = "\n".join(f"  - {p}" for p in problems)
        more = f"\n  ... and {self.total - len(problems)} more" if self.total > len(problems) else ""
        super().__init__(f"{self.total} problem(s); per rule:\n{counted}\nrow by row:\n{shown}{more}")


MAX_REPORTED = 20
FIRST_DATA_ROW = 2  # header is row 1


class _Collector:
    def __init__(self, file: str, limit: int, keep_all: bool = False):
        self.file, self.limit = file, limit
        self.problems: list[Problem] = []
        self.total = 0
        self.by_rule: dict[str, RuleCount] = {}
        self.keep_all = keep_all
        self.parts: list[pd.DataFrame] = []  # with keep_all: every problem, one frame per rule
        self.positions: list[np.ndarray] = []  # with keep_all: the frame positions of those rows

    def add_rows(self, mask: np.ndarray, rows: np.ndarray, column: str, values: pd.Series, rule: str):
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        self.total += len(idx)
        if self.keep_all:
            picked = values.iloc[idx]
            shown = picked.astype("str").where(picked.notna(), None)
            self._keep(idx, np.asarray(rows)[idx], column, shown.to_numpy(dtype=object), rule)
        counted = self.by_rule.setdefault(rule_kind(rule), RuleCount())
        counted.count += len(idx)
        wanted = max(self.limit - len(self.problems), EXAMPLES_PER_RULE - len(counted.examples))
        for i in idx[: max(0, wanted)]:
            value = values.iloc[i]
            shown = None if value is None or pd.isna(value) else str(value)
            problem = Problem(self.file, int(rows[i]), column, shown, rule)
            if len(self.problems) < self.limit:
                self.problems.append(problem)
            if len(counted.examples) < EXAMPLES_PER_RULE:
                counted.examples.append(problem)

    def _keep(self, idx: np.ndarray, rows: np.ndarray, column: str | None, values, rule) -> None:
        self.positions.append(idx)
        self.parts.append(pd.DataFrame({"row": rows.astype("int64"), "column": column,
                                        "value": values, "rule": rule}))

    def add(self, problem: Problem, position: int | None = None):
        self.total += 1
        if self.keep_all and position is not None:
            self._keep(np.array([position]), np.array([problem.row]), problem.column,
                       np.array([problem.value], dtype=object), problem.rule)
        self.by_rule.setdefault(rule_kind(problem.rule), RuleCount()).add(problem)
        if len(self.problems) < self.limit:
            self.problems.append(problem)

    def error(self) -> ContractError:
        return ContractError(self.problems, self.total, self.by_rule)


def _blank(values: pd.Series) -> np.ndarray:
    if values.dtype.kind in "Mmiufb":  # typed already (a re-check of a stored table)
        return values.isna().to_numpy()
    as_text = values.astype("str")
    return (values.isna() | (as_text.str.strip() == "")).to_numpy()


EARLIEST_DATE, LATEST_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2199-12-31 23:59:59")
_UTC_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _parse_dates(text: pd.Series, date_format: str | None) -> pd.Series:
    """Parse dates; a trailing UTC offset is dropped so the shop's local wall time is kept
    (a sale at 23:30+01 belongs to that calendar day, whatever UTC says)."""
    if date_format and ("%z" in date_format or "%Z" in date_format):
        # the same rule with a format: the offset is dropped, the wall time kept
        text = text.str.replace(r"\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$", "", regex=True)
        date_format = date_format.replace("%z", "").replace("%Z", "").strip()
    if date_format:
        return pd.to_datetime(text, format=date_format, errors="coerce")
    has_time = text.str.contains(r"\d[T ]\d", regex=True, na=False)
    text = text.where(~has_time, text.str.replace(_UTC_OFFSET, "", regex=True))
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if parsed.isna().any():  # mixed but valid forms, e.g. "2024-01-05" and "2024-01-05 10:30"
        retry = pd.to_datetime(text[parsed.isna()], format="mixed", errors="coerce", dayfirst=False)
        parsed = parsed.fillna(retry)
    return parsed


def validate(
    frame: pd.DataFrame,
    entity: Entity | str,
    file: str = "<table>",
    *,
    date_format: str | None = None,
    rows: np.ndarray | None = None,
    limit: int = MAX_REPORTED,
) -> pd.DataFrame:
    """Check ``frame`` against the entity's contract and return it with canonical dtypes.

    Raises :class:`ContractError` listing the first ``limit`` problems (and how many there are
    in all) when any rule is broken: a missing column, an empty required value, a value that
    is not a number or date, a value out of range, or a key repeated inside the table.
    Extra columns are kept as text; nothing is evaluated.
    ``rows`` gives each frame row's number in the source file (default: header is row 1).
    """
    out, found, frame = _check(frame, entity, file, date_format, rows, limit, keep_all=False)
    if found.total:
        raise found.error()
    return _result(out, frame, None)


@dataclass
class RowCheck:
    """What :func:`validate_rows` found: the rows that keep every rule (canonical dtypes) and
    every problem of the others."""

    valid: pd.DataFrame
    bad: np.ndarray  # one flag per input row: True when the row breaks at least one rule
    rejected: pd.DataFrame  # one line per problem: row, column, value, rule (file order)
    problems: list[Problem]  # the first ``limit`` problems, as ``validate`` would list them
    total: int
    by_rule: dict[str, RuleCount]

    @property
    def bad_rows(self) -> int:
        return int(self.bad.sum())

    def error(self) -> ContractError:
        return ContractError(self.problems, self.total, self.by_rule)


def validate_rows(
    frame: pd.DataFrame,
    entity: Entity | str,
    file: str = "<table>",
    *,
    date_format: str | None = None,
    rows: np.ndarray | None = None,
    limit: int = MAX_REPORTED,
) -> RowCheck:
    """Like :func:`validate`, but a row that breaks a rule does not stop the table: returns the
    valid rows and every problem of the bad ones (row, column, value, rule), without raising.

    Problems of the whole file (a required column missing from the header, no data rows) still
    raise :class:`ContractError`. Of rows repeating a key, the later ones are the bad rows.
    """
    out, found, frame = _check(frame, entity, file, date_format, rows, limit, keep_all=True)
    bad = np.zeros(len(frame), dtype=bool)
    for idx in found.positions:
        bad[idx] = True
    if found.parts:
        rejected = pd.concat(found.parts, ignore_index=True)
        rejected = rejected.sort_values("row", kind="stable").reset_index(drop=True)
    else:
        rejected = pd.DataFrame({"row": pd.Series([], dtype="int64"), "column": [], "value": [], "rule": []})
    return RowCheck(_result(out, frame, ~bad), bad, rejected, found.problems, found.total, found.by_rule)


def _result(out: dict[str, pd.Series], frame: pd.DataFrame, keep: np.ndarray | None) -> pd.DataFrame:
    result = pd.DataFrame(out, index=frame.index)
    for extra in frame.columns:
        if extra not in result.columns:
            result[extra] = frame[extra].astype("str").where(frame[extra].notna(), None).astype("str")
    if keep is not None and not keep.all():
        result = result.loc[keep]
    return result.reset_index(drop=True)


def _check(frame: pd.DataFrame, entity: Entity | str, file: str, date_format: str | None,
           rows: np.ndarray | None, limit: int, keep_all: bool):
    """Every rule on every row: (typed columns, the problems found, the frame with optional
    columns filled in); raises only for problems of the whole file."""
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    found = _Collector(file, limit, keep_all)
    missing = [c for c in entity.required_names if c not in frame.columns]
    if missing:
        for name in missing:
            found.add(Problem(file, 1, name, None, f"required column '{name}' is missing from the header"))
        raise found.error()
    if len(frame) == 0:
        raise ContractError([Problem(file, None, None, None, "the file has a header but no data rows")])
    rows = np.arange(FIRST_DATA_ROW, FIRST_DATA_ROW + len(frame)) if rows is None else rows
    absent = [c.name for c in entity.columns if c.optional and c.name not in frame.columns]
    if absent:  # optional columns left out of the header: present, every value empty
        frame = frame.assign(**{name: pd.Series(None, index=frame.index, dtype="object")
                                for name in absent})
    out: dict[str, pd.Series] = {}
    for col in entity.columns:
        raw = frame[col.name]
        blank = _blank(raw)
        if not col.nullable:
            found.add_rows(blank, rows, col.name, raw, f"{col.name} must not be empty")
        if col.kind == STRING:
            text = raw.astype("str").str.strip()
            if col.choices:
                text = text.str.lower()
                found.add_rows(~text.isin(col.choices).to_numpy() & ~blank, rows, col.name, raw,
                               f"{col.name} must be one of {', '.join(col.choices)}")
            out[col.name] = text.where(~blank, None).astype("str")
            continue
        if col.kind == DATE:
            if raw.dtype.kind == "M":  # typed already: nothing to parse
                parsed = raw.astype("datetime64[ns]")
            else:
                parsed = _parse_dates(raw.astype("str").str.strip(), date_format)
            bad = parsed.isna().to_numpy() & ~blank
            found.add_rows(bad, rows, col.name, raw, f"{col.name} is not a date"
                           + (f" in the format {date_format}" if date_format else ""))
            outside = ((parsed < EARLIEST_DATE) | (parsed > LATEST_DATE)).to_numpy()
            found.add_rows(outside, rows, col.name, raw,
                           f"{col.name} must be between {EARLIEST_DATE.date()} and {LATEST_DATE.date()}")
            out[col.name] = parsed.where(~outside).astype("datetime64[ns]")
            continue
        numbers = pd.to_numeric(raw, errors="coerce") if raw.dtype.kind not in "iuf" else raw.astype("float64")
        numbers = numbers.astype("float64")
        bad = numbers.isna().to_numpy() & ~blank
        found.add_rows(bad, rows, col.name, raw, f"{col.name} is not a number")
        values = numbers.to_numpy()
        if col.kind == INTEGER:
            frac = ~np.isnan(values) & (np.floor(values) != values)
            found.add_rows(frac, rows, col.name, raw, f"{col.name} must be a whole number")
        if col.min is not None:
            low = values <= col.min if col.min_exclusive else values < col.min
            word = "greater than" if col.min_exclusive else "at least"
            found.add_rows(low & ~np.isnan(values), rows, col.name, raw,
                           f"{col.name} must be {word} {col.min:g}")
        if col.max is not None:
            found.add_rows(values > col.max, rows, col.name, raw,
                           f"{col.name} must be at most {col.max:g}")
        if col.nonzero:
            found.add_rows(values == 0, rows, col.name, raw, f"{col.name} must not be 0")
        if col.kind == INTEGER:
            safe = np.where(np.isnan(values) | (np.floor(values) != values), np.nan, values)
            out[col.name] = pd.array(safe, dtype="Float64").astype("Int64")
        else:
            out[col.name] = numbers
    for rule in entity.row_rules:
        found.add_rows(rule.broken(out), rows, rule.column, frame[rule.column], rule.text())
    key_frame = pd.DataFrame({k: out[k] for k in entity.key})
    dup = key_frame.duplicated(keep="first").to_numpy()
    if dup.any():
        first_row = {}
        keys = list(map(tuple, key_frame.astype("str").to_numpy()))
        for i, key in enumerate(keys):
            first_row.setdefault(key, rows[i])
        key_name = ", ".join(entity.key)
        for i in np.flatnonzero(dup):
            found.add(Problem(file, int(rows[i]), key_name, " / ".join(keys[i]),
                              f"duplicate key: already used on row {first_row[keys[i]]}"), int(i))
    return out, found, frame




def empty_frame(entity: Entity | str) -> pd.DataFrame:
    """A zero-row table with the entity's canonical columns and dtypes."""
    entity = ENTITIES[entity] if isinstance(entity, str) else entity
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in entity.columns})
