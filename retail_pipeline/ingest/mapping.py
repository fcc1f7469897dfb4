"""Column-mapping files: how any other export is mapped onto a contract entity.

A mapping is a small YAML file given with ``--mapping`` (CLI) or ``mapping=`` (Python).
It names the entity the export holds and which export column feeds which contract column;
the file is then validated exactly like a canonical upload. Keys::

    entity: transactions           # required: transactions, customers, products, shops, ...
    columns:                       # export column -> contract column
      Beleg-Nr: transaction_id
      Kunde: customer_id
      Artikel: product_id
      Menge: quantity
      Preis: actual_price
      Datum: transaction_date
      Zahlart: payment_method
    constants:                     # optional: contract column -> one value for every row
      shop_id: berlin-01
    delimiter: ";"                 # optional, CSV only; default ","  (use "\\t" for tabs)
    date_format: "%d.%m.%Y %H:%M"  # optional, strftime format of the date column; default ISO 8601
    decimal: ","                   # optional; "," reads 1.234,50 as 1234.5 in number columns
    encoding: cp1252               # optional; any Python codec name, default utf-8
    sheet: Verkauf                 # optional, .xlsx only; default: the first sheet with the mapped columns

In a workbook every cell is read as the value Excel shows (a formula's saved value, never
its text); a date cell is that date whatever ``date_format`` says (``date_format`` is for
dates typed as text).

What real exports need on top of renaming (each optional; every name below is an export
column, as in the file's header)::

    key:                           # the entity's key column (transaction_id, customer_id, ...)
      position_within: Invoice     #   <Invoice>-<n>: n counts the invoice's lines from 1, or
      # columns: [Invoice, StockCode]  <Invoice>-<StockCode>; separator: "-" (default)
    fill_down:                     # order-level fields written on an order's first row only
      group: Name                  #   copied onto the other rows of the same Name (a list of
      columns: [Email, Financial Status]   # such {group, columns} is accepted too)
    drop_rows:                     # rows matching any condition are left out (counted)
      - {column: StockCode, equals: POST}
      - {column: Description, matches: "(?i).*amazon fee.*"}
    line_type:                     # transactions only: the first rule that matches wins,
      - {type: cancellation, when: {column: Invoice, starts_with: C}}   # other rows stay
      - {type: void, when: {column: Financial Status, in: [voided]}}    # empty (sign decides)
    emit:                          # transactions only: dimension rows from the same lines
      products: {name: Description, category: Category}   # standard_price = commonest price
      customers: {name: Billing Name, city: City, country: Country}

A condition is ``{column: <export column>, <operator>: <value>}`` with exactly one
operator: ``equals``, ``starts_with``, ``ends_with``, ``contains`` (ignoring case and
surrounding spaces), ``in`` (a list), ``matches`` (a regular expression that must match the
whole cell), ``empty: true`` or ``not_empty: true``. ``when`` takes one condition or a list
(any of them). The steps run in this order: fill-down and the key on every row of the file
(so a line's key does not depend on which rows are dropped), then ``drop_rows``, then
``line_type``, the column mapping and ``emit``. Row numbers in every report stay those of
the file. The number of dropped rows is on the main part (``MappedFrame.dropped``, per
condition in ``dropped_by``).

Wide marketing files (one row per week, spend/impressions/clicks per channel in columns)
become long ``marketing_spend`` rows with a ``wide:`` section instead of ``columns``::

    entity: marketing_spend
    wide:
      date: DATE
      channels:                    # channel -> metric -> export column; spend is required,
        tv: {spend: tv_S}          #   also impressions, reach, clicks, conversions, revenue
        facebook: {spend: facebook_S, impressions: facebook_I}
        search: {spend: search_S, clicks: search_clicks_P}
      outcome: revenue             # optional: a revenue column, {revenue: col} or
                                   #   {conversions: col, revenue_per_conversion: col}
      controls: [competitor_sales_B, events]   # optional, with an outcome

The outcome (total revenue) and the controls are per week, not per channel, so they are not
copied onto the channel rows (the ``revenue`` of ``marketing_spend`` is revenue a channel
reports as its own): with an ``outcome`` the file also gives a ``marketing_outcomes`` part
(``date``, ``revenue`` and one column per control; a text control such as Robyn's
``events`` becomes one 0/1 column per value), which the media-mix model then explains
instead of the shop's own sales. Empty cells and ``na`` are empty numbers. The conversion
itself is :func:`retail_pipeline.marketing.wide.to_long`.

Every contract column that may not be empty must come from ``columns``, ``constants`` or
``key``; contract columns that may be empty and are not mapped are left empty. Export
columns that are not mapped are kept as extra text columns under their own names. The
mapping is checked before the file is read: an unknown key at any level or a value of the
wrong kind is reported with its path (``drop_rows[1].mathces: unknown key``; list items
are counted from 0), like file problems.

A mapping file is small by nature: one larger than ``RETAIL_MAX_MAPPING_KB`` is refused
before it is parsed, and YAML anchors and aliases (``&a`` / ``*a``, the "billion laughs"
expansion bomb) are refused while parsing, before anything is expanded. Only plain YAML
types are built (``safe_load``: no ``!!python/object``).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from retail_pipeline.contract import (
    DATE,
    ENTITIES,
    FLOAT,
    INTEGER,
    LINE_TYPES,
    MAX_REPORTED,
    ContractError,
    Problem,
)
from retail_pipeline.ingest import transforms
from retail_pipeline.ingest.dimensions import customers_from_lines, products_from_lines
from retail_pipeline.ingest.formats import EntityFrame
from retail_pipeline.ingest.tables import RawTable
from retail_pipeline.marketing import wide as wide_export
from retail_pipeline.platform import settings

_KEYS = ("entity", "columns", "constants", "delimiter", "date_format", "decimal", "encoding", "sheet",
         "key", "fill_down", "drop_rows", "line_type", "emit", "wide")
_WIDE_KEYS = ("entity", "wide", "constants", "delimiter", "date_format", "decimal", "encoding", "sheet",
              "drop_rows")
_OPERATORS = transforms._OPERATORS  # the operators Condition knows, in one place
_EMIT = {"products": ("name", "category"), "customers": ("name", "city", "country")}


@dataclass(frozen=True)
class KeySpec:
    """How the entity's key column is built: from several columns, or a group's line number."""

    target: str
    columns: tuple[str, ...] = ()
    position_within: str | None = None
    separator: str = transforms.KEY_SEPARATOR

    def sources(self) -> list[str]:
        return [self.position_within] if self.position_within else list(self.columns)

    def values(self, frame: pd.DataFrame) -> pd.Series:
        if self.position_within:
            return transforms.position_key(frame, self.position_within, self.separator)
        return transforms.composite_key(frame, self.columns, self.separator)


@dataclass(frozen=True)
class FillDown:
    group: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class LineTypeRule:
    type: str
    when: tuple[transforms.Condition, ...]


@dataclass
class MappedFrame(EntityFrame):
    """The main part of a mapped export, with the rows ``drop_rows`` left out."""

    dropped: int = 0
    dropped_by: dict[str, int] = field(default_factory=dict)  # condition (as text) -> rows


@dataclass(frozen=True)
class Mapping:
    entity: str
    columns: dict[str, str]  # export column -> contract column
    constants: dict[str, str] = field(default_factory=dict)
    delimiter: str = ","
    date_format: str | None = None
    decimal: str = "."
    encoding: str = "utf-8"
    sheet: str | None = None
    source: str = "<mapping>"
    key: KeySpec | None = None
    fill_down: tuple[FillDown, ...] = ()
    drop_rows: tuple[transforms.Condition, ...] = ()
    line_type: tuple[LineTypeRule, ...] = ()
    emit: dict[str, dict[str, str]] = field(default_factory=dict)  # entity -> role -> export column
    wide: wide_export.WideSpec | None = None

    @classmethod
    def load(cls, path: Path | str, max_bytes: int | None = None) -> Mapping:
        """Read a mapping file; ``max_bytes`` defaults to ``RETAIL_MAX_MAPPING_KB``."""
        path = Path(path)
        max_bytes = settings.max_mapping_bytes() if max_bytes is None else max_bytes
        try:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise _error(path.name, f"the mapping file is larger than {max_bytes:,} bytes "
                                        "(RETAIL_MAX_MAPPING_KB); a mapping needs a few lines")
            spec = yaml.load(data.decode("utf-8"), Loader=NoAliasLoader)
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise _error(path.name, f"the mapping file cannot be read as YAML: {exc}") from exc
        return cls.from_dict(spec, source=path.name)

    @classmethod
    def from_dict(cls, spec, source: str = "<mapping>") -> Mapping:
        if not isinstance(spec, dict):
            raise _error(source, "a mapping file must be a YAML mapping with at least 'entity' and 'columns'")
        return _Reader(source).mapping(spec)

    def referenced(self) -> list[str]:
        """Every export column the mapping names (all must be in the file's header)."""
        if self.wide is not None:
            names = self.wide.columns()
        else:
            names = list(self.columns)
            names += self.key.sources() if self.key else []
            for step in self.fill_down:
                names += [step.group, *step.columns]
            for rule in self.line_type:
                names += [c.column for c in rule.when]
            for roles in self.emit.values():
                names += list(roles.values())
        names += [c.column for c in self.drop_rows]
        return list(dict.fromkeys(names))

    def fits(self, header: list[str]) -> bool:
        return all(column in header for column in self.referenced())

    def frames(self, raw: RawTable, file: str) -> list[EntityFrame]:
        """Every contract part the mapped export gives: the main entity first, then the
        products and customers ``emit`` asks for (or a wide file's ``marketing_outcomes``)."""
        main, kept_rows, extra = self._main(raw, file)
        parts: list[EntityFrame] = [main, *extra]
        if "products" in self.emit:
            roles = self.emit["products"]
            lines = _with_sources(main.frame, kept_rows, roles)
            part = products_from_lines(lines, main.rows, name=_role(roles, "name"),
                                       category=_role(roles, "category"))
            parts += [part] if part is not None else []
        if "customers" in self.emit:
            roles = self.emit["customers"]
            lines = _with_sources(main.frame, kept_rows, roles)
            part = customers_from_lines(lines, main.rows, name=_role(roles, "name"),
                                        city=_role(roles, "city"), country=_role(roles, "country"))
            parts += [part] if part is not None else []
        return parts

    def apply(self, raw: RawTable, file: str) -> MappedFrame:
        """The main entity's rows (still text), after every step of the mapping."""
        return self._main(raw, file)[0]

    def _main(self, raw: RawTable, file: str) -> tuple[MappedFrame, pd.DataFrame, list[EntityFrame]]:
        """The main part, the export's rows it was made of (filled down, filtered) and the
        outcomes part of a wide file."""
        missing = [c for c in self.referenced() if c not in raw.header]
        if missing:
            raise ContractError([Problem(file, 1, c, None,
                                         f"column '{c}' named in the mapping {self.source} is not in the "
                                         f"header ({', '.join(raw.header)})") for c in missing])
        filled, kept, dropped_by = self._prepared(raw)
        frame, rows = filled[kept], raw.row_numbers()[kept]
        if self.wide is not None:
            main, outcomes = self._apply_wide(raw, frame, rows, kept, dropped_by, file)
            return main, frame, outcomes
        contract = ENTITIES[self.entity]
        out = {target: frame[source] for source, target in self.columns.items()}
        if self.key is not None:
            out[self.key.target] = self.key.values(filled)[kept]
        if self.line_type:
            out["line_type"] = pd.Series(self._line_types(frame), index=frame.index, dtype="str")
        for target, value in self.constants.items():
            out[target] = pd.Series([value] * len(frame), index=frame.index, dtype="str")
        sources = {target: source for source, target in self.columns.items()}
        for column in contract.columns:
            if column.name not in out:  # optional column the export does not have
                out[column.name] = pd.Series([""] * len(frame), index=frame.index, dtype="str")
            elif column.name in sources:
                if self.decimal == "," and column.kind in (FLOAT, INTEGER):
                    out[column.name] = _decimal_point(out[column.name].astype("str"))
                elif column.kind == DATE:
                    out[column.name] = self._excel_dates(raw, sources[column.name], out[column.name], kept)
        result = pd.DataFrame(out, index=frame.index)
        for extra in frame.columns:
            if extra not in self.columns and extra not in result.columns:
                result[extra] = frame[extra]
        result = result.reset_index(drop=True)
        return MappedFrame(self.entity, result, rows, self.date_format, int((~kept).sum()), dropped_by), frame, []

    def _prepared(self, raw: RawTable) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
        """Every row of the file with ``fill_down`` applied, the mask of the rows ``drop_rows``
        keeps and the rows each condition dropped (a row counts for the first that matches)."""
        frame = raw.frame
        for step in self.fill_down:
            frame = transforms.fill_down(frame, step.columns, step.group)
        dropped = np.zeros(len(frame), dtype=bool)
        dropped_by: dict[str, int] = {}
        for condition in self.drop_rows:
            hit = condition.mask(frame) & ~dropped
            dropped_by[condition.text()] = int(hit.sum())
            dropped |= hit
        return frame, ~dropped, dropped_by

    def _line_types(self, frame: pd.DataFrame) -> np.ndarray:
        types = np.full(len(frame), "", dtype=object)
        for rule in self.line_type:
            hit = transforms.any_of(frame, rule.when) & (types == "")
            types[hit] = rule.type
        return types

    def _excel_dates(self, raw: RawTable, source: str, text: pd.Series, kept: np.ndarray) -> pd.Series:
        """Workbook date cells arrive as ISO text whatever ``date_format`` says: written in
        that format here, so each cell is read as the date Excel shows."""
        cells = (raw.date_cells or {}).get(source)
        if not self.date_format or cells is None:
            return text
        cells = cells[kept]
        if not cells.any():
            return text
        out = text.astype("str").copy()
        parsed = pd.to_datetime(out[cells], format="ISO8601")
        out[cells] = parsed.dt.strftime(self.date_format)
        return out

    def _apply_wide(self, raw: RawTable, frame: pd.DataFrame, rows: np.ndarray, kept: np.ndarray,
                    dropped_by: dict[str, int], file: str) -> tuple[MappedFrame, list[EntityFrame]]:
        spec = self.wide
        problems: list[Problem] = []
        typed = frame.reset_index(drop=True).copy()
        dates = self._wide_dates(raw, typed[spec.date], kept)
        bad = dates.isna().to_numpy()
        problems += [Problem(file, int(rows[i]), spec.date, typed[spec.date].iloc[i],
                             "is not a date" + (f" in the format {self.date_format}" if self.date_format
                                                else " (YYYY-MM-DD)")) for i in np.flatnonzero(bad)]
        typed[spec.date] = dates
        numbers = [c for metrics in spec.channels.values() for c in metrics.values()] + list(spec.outcome.values())
        for column in dict.fromkeys(numbers):
            text = typed[column].astype("str").str.strip()
            text = _decimal_point(text) if self.decimal == "," else text
            empty = text.eq("") | text.isin(spec.na_values)
            values = pd.to_numeric(text.where(~empty), errors="coerce")
            wrong = values.isna() & ~empty
            problems += [Problem(file, int(rows[i]), column, typed[column].iloc[i], "is not a number")
                         for i in np.flatnonzero(wrong.to_numpy())]
            typed[column] = values
        for column in spec.controls:  # numbers (decimal commas too) or text (one indicator per value)
            text = typed[column].astype("str").str.strip()
            text = _decimal_point(text) if self.decimal == "," else text
            empty = text.eq("") | text.isin(spec.na_values)
            values = pd.to_numeric(text.where(~empty), errors="coerce")
            if values.notna().sum() == (~empty).sum():
                typed[column] = values
        if problems:
            raise ContractError(problems[:MAX_REPORTED], len(problems))
        try:
            long, outcomes = wide_export.to_long(typed, spec, file)
        except ValueError as exc:  # not expected after the checks above; reported, not raised raw
            raise ContractError([Problem(file, None, None, None, str(exc))]) from exc
        first_row = pd.Series(rows, index=dates.to_numpy()).groupby(level=0).first()
        long_rows = first_row.reindex(long["date"].to_numpy()).to_numpy(dtype=np.int64)
        out = pd.DataFrame({"date": long["date"].dt.strftime("%Y-%m-%d"), "channel": long["channel"]}, dtype="str")
        contract = ENTITIES[self.entity]
        for column in contract.columns[2:]:
            if column.name in self.constants:
                out[column.name] = self.constants[column.name]
            elif column.name in long.columns:
                out[column.name] = [_number_text(v) for v in long[column.name]]
            else:
                out[column.name] = ""
        out = out.astype("str")
        main = MappedFrame(self.entity, out, long_rows, None, int((~kept).sum()), dropped_by)
        if not spec.outcome:
            return main, []
        series = pd.DataFrame({"date": outcomes["date"].dt.strftime("%Y-%m-%d")}, dtype="str")
        for column in outcomes.columns[1:]:
            series[column] = [_number_text(v) for v in outcomes[column]]
        rows_of = first_row.reindex(outcomes["date"].to_numpy()).to_numpy(dtype=np.int64)
        return main, [EntityFrame("marketing_outcomes", series.astype("str"), rows_of)]

    def _wide_dates(self, raw: RawTable, text: pd.Series, kept: np.ndarray) -> pd.Series:
        text = text.astype("str").str.strip()
        cells = (raw.date_cells or {}).get(self.wide.date)
        excel = cells[kept] if cells is not None else np.zeros(len(text), dtype=bool)
        dates = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        given = self.date_format
        if excel.any():
            dates[excel] = pd.to_datetime(text[excel], format="ISO8601", errors="coerce")
        if (~excel).any():
            dates[~excel] = pd.to_datetime(text[~excel], format=given or "ISO8601", errors="coerce")
        return dates.dt.normalize()


def _decimal_point(text: pd.Series) -> pd.Series:
    """``1.234,50`` -> ``1234.50``: thousands dots and spaces out, the decimal comma a point."""
    return text.str.replace(r"[.\s]", "", regex=True).str.replace(",", ".", regex=False)


def _number_text(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else format(float(value), ".15g")
    return str(value)


def _role(roles: dict[str, str], role: str) -> str | None:
    return f"__emit_{role}" if role in roles else None


def _with_sources(lines: pd.DataFrame, frame: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """The mapped lines plus the export columns ``emit`` names (as ``__emit_<role>``)."""
    out = lines.copy()
    for role, column in roles.items():
        out[f"__emit_{role}"] = frame[column].to_numpy()
    return out


class _Reader:
    """Checks a parsed mapping file; collects every problem with the path of its key."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def known(self, node: dict, allowed, path: str) -> None:
        for key in node:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.fail(where, f"unknown key (known: {', '.join(allowed)})")

    def text(self, value, path: str, what: str = "a text") -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or str(value).strip() == "":
            self.fail(path, f"must be {what}, not {_shown(value)}")
            return None
        return str(value)

    def names(self, value, path: str) -> tuple[str, ...]:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(path, f"must be a column name or a list of column names, not {_shown(value)}")
            return ()
        found = [self.text(v, f"{path}[{i}]", "a column name") for i, v in enumerate(value)]
        return tuple(f for f in found if f is not None)

    def table(self, value, path: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping (name: value), not {_shown(value)}")
            return {}
        return value

    def mapping(self, spec: dict) -> Mapping:
        wide = "wide" in spec
        for key in spec:
            if key not in _KEYS:
                self.fail(str(key), f"unknown key (known: {', '.join(_KEYS)})")
            elif wide and key not in _WIDE_KEYS:
                self.fail(str(key), "cannot be combined with 'wide' (a wide file is mapped by its 'wide' section)")
        entity = spec.get("entity")
        if entity not in ENTITIES:
            self.fail("entity", f"must be one of {', '.join(ENTITIES)}, not {entity!r}")
            raise _error(self.source, *self.problems)
        contract = ENTITIES[entity]
        columns = {}
        for source, target in self.table(spec.get("columns"), "columns").items():
            name = self.text(target, f"columns.{source}", "a contract column")
            if name is not None:
                columns[str(source)] = name
        constants = {}
        for target, value in self.table(spec.get("constants"), "constants").items():
            if isinstance(value, dict | list):
                self.fail(f"constants.{target}", f"must be one value, not {_shown(value)}")
            else:
                constants[str(target)] = "" if value is None else str(value)
        key = self.key(spec["key"], contract, entity) if "key" in spec else None
        targets = list(columns.values()) + list(constants) + ([key.target] if key else [])
        for source, target in columns.items():
            if target not in contract.column_names:
                self.fail(f"columns.{source}", f"'{target}' is not a column of {entity} "
                                               f"({', '.join(contract.column_names)})")
        for target in constants:
            if target not in contract.column_names:
                self.fail(f"constants.{target}", f"'{target}' is not a column of {entity} "
                                                 f"({', '.join(contract.column_names)})")
        for target in sorted({t for t in targets if targets.count(t) > 1}):
            self.fail("", f"contract column '{target}' is given more than once")
        line_type = self.line_types(spec["line_type"], entity, targets) if "line_type" in spec else ()
        wide_spec = self.wide(spec["wide"], entity) if wide else None
        if wide:
            for target in constants:
                if target in ("date", "channel", "spend"):
                    self.fail(f"constants.{target}", "comes from the 'wide' section")
            targets += ["date", "channel", "spend"]
        for column in contract.columns:
            if not column.nullable and column.name not in targets:
                self.fail("", f"required column '{column.name}' of {entity} has no export column or constant")
        delimiter = spec.get("delimiter", ",")
        delimiter = "\t" if delimiter in ("\\t", "tab") else delimiter
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            self.fail("delimiter", f"must be one character, not {delimiter!r}")
            delimiter = ","
        date_format = spec.get("date_format")
        if date_format is not None:
            date_format = self.text(date_format, "date_format", "a strftime format such as '%d.%m.%Y'")
            if date_format is not None and "%" not in date_format:
                self.fail("date_format", f"{date_format!r} has no % field (e.g. '%d.%m.%Y %H:%M')")
        decimal = str(spec.get("decimal", "."))
        if decimal not in (".", ","):
            self.fail("decimal", f"must be '.' or ',', not {decimal!r}")
        encoding = self.text(spec.get("encoding", "utf-8"), "encoding", "a codec name") or "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            self.fail("encoding", f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)")
        sheet = spec.get("sheet")
        if sheet is not None:
            sheet = self.text(sheet, "sheet", "a sheet name")
        fill_down = self.fill_down(spec["fill_down"]) if "fill_down" in spec else ()
        drop_rows = self.conditions(spec["drop_rows"], "drop_rows") if "drop_rows" in spec else ()
        emit = self.emit(spec["emit"], entity, targets) if "emit" in spec else {}
        if self.problems:
            raise _error(self.source, *self.problems)
        return Mapping(entity, columns, constants, delimiter, date_format, decimal, encoding, sheet,
                       self.source, key, fill_down, drop_rows, line_type, emit, wide_spec)

    def key(self, node, contract, entity: str) -> KeySpec | None:
        if not isinstance(node, dict):
            self.fail("key", "must be {position_within: <column>} or {columns: [<column>, ...]}, "
                             f"not {_shown(node)}")
            return None
        self.known(node, ("columns", "position_within", "separator"), "key")
        if len(contract.key) != 1:
            self.fail("key", f"the key of {entity} is several columns ({', '.join(contract.key)}): map each "
                             "of them under 'columns'")
            return None
        given = [k for k in ("columns", "position_within") if k in node]
        if len(given) != 1:
            self.fail("key", "give exactly one of 'columns' and 'position_within'")
            return None
        separator = self.text(node.get("separator", transforms.KEY_SEPARATOR), "key.separator") or "-"
        if given == ["columns"]:
            columns = self.names(node["columns"], "key.columns")
            return KeySpec(contract.key[0], columns=columns, separator=separator) if columns else None
        group = self.text(node["position_within"], "key.position_within", "a column name")
        return KeySpec(contract.key[0], position_within=group, separator=separator) if group else None

    def fill_down(self, node) -> tuple[FillDown, ...]:
        items = node if isinstance(node, list) else [node]
        steps = []
        for i, item in enumerate(items):
            path = f"fill_down[{i}]" if isinstance(node, list) else "fill_down"
            if not isinstance(item, dict):
                self.fail(path, f"must be {{group: <column>, columns: [<column>, ...]}}, not {_shown(item)}")
                continue
            self.known(item, ("group", "columns"), path)
            if "group" not in item or "columns" not in item:
                self.fail(path, f"needs both 'group' and 'columns' (missing: "
                                f"{', '.join(k for k in ('group', 'columns') if k not in item)})")
                continue
            group = self.text(item["group"], f"{path}.group", "a column name")
            columns = self.names(item["columns"], f"{path}.columns")
            if group and columns:
                steps.append(FillDown(group, columns))
        return tuple(steps)

    def conditions(self, node, path: str) -> tuple[transforms.Condition, ...]:
        if isinstance(node, dict):
            found = self.condition(node, path)
            return (found,) if found else ()
        if not isinstance(node, list) or not node:
            self.fail(path, f"must be a condition or a list of conditions, not {_shown(node)}")
            return ()
        found = [self.condition(item, f"{path}[{i}]") for i, item in enumerate(node)]
        return tuple(f for f in found if f is not None)

    def condition(self, node, path: str) -> transforms.Condition | None:
        if not isinstance(node, dict):
            self.fail(path, f"must be {{column: <column>, <operator>: <value>}}, not {_shown(node)}")
            return None
        self.known(node, ("column", *_OPERATORS), path)
        column = self.text(node["column"], f"{path}.column", "a column name") if "column" in node else None
        if "column" not in node:
            self.fail(path, "needs 'column'")
        operators = [k for k in node if k in _OPERATORS]
        if len(operators) != 1:
            self.fail(path, f"needs exactly one operator ({', '.join(_OPERATORS)}), "
                            f"not {', '.join(operators) or 'none'}")
            return None
        operator = operators[0]
        value = node[operator]
        where = f"{path}.{operator}"
        if operator in ("empty", "not_empty"):
            if value is not True:
                self.fail(where, f"takes no value: write '{operator}: true'")
                return None
            value = None
        elif operator == "in":
            if not isinstance(value, list) or not value:
                self.fail(where, f"must be a list of values, not {_shown(value)}")
                return None
            value = tuple(self.text(v, f"{where}[{i}]", "a value in quotes") or "" for i, v in enumerate(value))
        else:
            value = self.text(value, where, "a value in quotes")
            if value is None:
                return None
            if operator == "matches":
                try:
                    re.compile(value)
                except re.error as exc:
                    self.fail(where, f"the regular expression {value!r} does not compile ({exc})")
                    return None
        if column is None:
            return None
        return transforms.Condition(column, operator, value)

    def line_types(self, node, entity: str, targets: list[str]) -> tuple[LineTypeRule, ...]:
        if entity != "transactions":
            self.fail("line_type", f"only transactions have a line type, not {entity}")
            return ()
        if "line_type" in targets:
            self.fail("line_type", "the line type is also mapped under 'columns' or 'constants': give it once")
        if not isinstance(node, list) or not node:
            self.fail("line_type", f"must be a list of {{type: ..., when: ...}}, not {_shown(node)}")
            return ()
        rules = []
        for i, item in enumerate(node):
            path = f"line_type[{i}]"
            if not isinstance(item, dict):
                self.fail(path, f"must be {{type: <{'|'.join(LINE_TYPES)}>, when: <condition>}}, not {_shown(item)}")
                continue
            self.known(item, ("type", "when"), path)
            kind = item.get("type")
            if kind not in LINE_TYPES:
                self.fail(f"{path}.type", f"must be one of {', '.join(LINE_TYPES)}, not {_shown(kind)}")
            if "when" not in item:
                self.fail(path, "needs 'when' (a condition or a list of conditions)")
                continue
            when = self.conditions(item["when"], f"{path}.when")
            if kind in LINE_TYPES and when:
                rules.append(LineTypeRule(kind, when))
        return tuple(rules)

    def emit(self, node, entity: str, targets: list[str]) -> dict[str, dict[str, str]]:
        if entity != "transactions":
            self.fail("emit", f"dimension rows are emitted from transaction lines, not from {entity}")
            return {}
        if not isinstance(node, dict):
            self.fail("emit", f"must be {{products: {{...}}, customers: {{...}}}}, not {_shown(node)}")
            return {}
        self.known(node, tuple(_EMIT), "emit")
        out = {}
        for kind, roles in _EMIT.items():
            if kind not in node:
                continue
            given = node[kind]
            if given is None or given is True:
                given = {}
            if not isinstance(given, dict):
                self.fail(f"emit.{kind}", f"must be a mapping of {', '.join(roles)} to export columns, "
                                          f"not {_shown(given)}")
                continue
            self.known(given, roles, f"emit.{kind}")
            out[kind] = {}
            for role in roles:
                if role in given:
                    column = self.text(given[role], f"emit.{kind}.{role}", "a column name")
                    if column is not None:
                        out[kind][role] = column
        if "customers" in out and "customer_id" not in targets:
            self.fail("emit.customers", "needs customer_id mapped under 'columns'")
        return out

    def wide(self, node, entity: str) -> wide_export.WideSpec | None:
        if entity != "marketing_spend":
            self.fail("wide", f"a wide file becomes marketing_spend rows: 'entity' must be marketing_spend, "
                              f"not {entity}")
        if not isinstance(node, dict):
            self.fail("wide", f"must be {{date: <column>, channels: {{...}}}}, not {_shown(node)}")
            return None
        self.known(node, ("date", "channels", "outcome", "controls"), "wide")
        date = self.text(node["date"], "wide.date", "a column name") if "date" in node else None
        if "date" not in node:
            self.fail("wide", "needs 'date' (the date column)")
        channels = {}
        given = node.get("channels")
        if not isinstance(given, dict) or not given:
            self.fail("wide.channels", f"must map each channel to its columns, e.g. {{tv: {{spend: tv_S}}}}, "
                                       f"not {_shown(given)}")
            given = {}
        for name, metrics in given.items():
            path = f"wide.channels.{name}"
            if not isinstance(metrics, dict):
                self.fail(path, f"must map metrics ({', '.join(wide_export.METRICS)}) to columns, "
                                f"not {_shown(metrics)}")
                continue
            self.known(metrics, wide_export.METRICS, path)
            if "spend" not in metrics:
                self.fail(path, "needs 'spend' (the channel's spend column)")
            found = {str(m): self.text(c, f"{path}.{m}", "a column name") for m, c in metrics.items()
                     if m in wide_export.METRICS}
            channels[str(name)] = {m: c for m, c in found.items() if c is not None}
        outcome = self.outcome(node.get("outcome"))
        controls = self.names(node["controls"], "wide.controls") if "controls" in node else ()
        if controls and "outcome" not in node:
            self.fail("wide.controls", "controls go with an outcome: give 'outcome' too")
        if date is None or not channels:
            return None
        return wide_export.WideSpec(date=date, channels=channels, outcome=outcome, controls=controls)

    def outcome(self, node) -> dict[str, str]:
        if node is None:
            return {}
        if isinstance(node, str | int) and not isinstance(node, bool):
            return {"revenue": str(node)}
        if not isinstance(node, dict) or set(node) not in ({"revenue"}, {"conversions", "revenue_per_conversion"}):
            self.fail("wide.outcome", "must be a revenue column, {revenue: <column>} or "
                                      f"{{conversions: <column>, revenue_per_conversion: <column>}}, not {_shown(node)}")
            return {}
        found = {k: self.text(v, f"wide.outcome.{k}", "a column name") for k, v in node.items()}
        return {k: v for k, v in found.items() if v is not None}


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors and aliases before anything is expanded."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark  # line and column only, no snippet of the file
            raise yaml.composer.ComposerError(
                None, None, "YAML anchors and aliases (&name, *name) are not allowed in a mapping "
                            "file: write every value out",
                yaml.Mark(mark.name, mark.index, mark.line, mark.column, None, None))
        return super().compose_node(parent, index)


def _error(source: str, *rules: str) -> ContractError:
    return ContractError([Problem(source, None, None, None, rule) for rule in rules])


__all__ = ["FillDown", "KeySpec", "LineTypeRule", "MappedFrame", "Mapping", "NoAliasLoader"]
