"""Column-mapping files: how any other export is mapped onto a contract entity.

A mapping is a small YAML file given with ``--mapping`` (CLI) or ``mapping=`` (Python).
It names the entity the export holds and which export column feeds which contract column;
the file is then validated exactly like a canonical upload. Keys::

    entity: transactions           # required: transactions, customers, products, shops or daily_totals
    columns:                       # required: export column -> contract column
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

Every contract column that may not be empty must come from ``columns`` or ``constants``;
contract columns that may be empty and are not mapped are left empty. Export columns that
are not mapped are kept as extra text columns under their own names. The mapping is
checked before the file is read, and its own mistakes are reported like file problems.

A mapping file is small by nature: one larger than ``RETAIL_MAX_MAPPING_KB`` is refused
before it is parsed, and YAML anchors and aliases (``&a`` / ``*a``, the "billion laughs"
expansion bomb) are refused while parsing, before anything is expanded. Only plain YAML
types are built (``safe_load``: no ``!!python/object``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from retail_pipeline.contract import ENTITIES, FLOAT, INTEGER, ContractError, Problem
from retail_pipeline.ingest.formats import EntityFrame
from retail_pipeline.ingest.tables import RawTable
from retail_pipeline.platform import settings

_KEYS = {"entity", "columns", "constants", "delimiter", "date_format", "decimal", "encoding", "sheet"}


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
        problems = [f"unknown key '{k}' (known: {', '.join(sorted(_KEYS))})" for k in spec if k not in _KEYS]
        entity = spec.get("entity")
        if entity not in ENTITIES:
            problems.append(f"'entity' must be one of {', '.join(ENTITIES)}, not {entity!r}")
            raise _error(source, *problems)
        contract = ENTITIES[entity]
        columns = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
        constants = {str(k): "" if v is None else str(v) for k, v in (spec.get("constants") or {}).items()}
        targets = list(columns.values()) + list(constants)
        for target in targets:
            if target not in contract.column_names:
                problems.append(f"'{target}' is not a column of {entity} ({', '.join(contract.column_names)})")
        for target in sorted({t for t in targets if targets.count(t) > 1}):
            problems.append(f"contract column '{target}' is given more than once")
        for column in contract.columns:
            if not column.nullable and column.name not in targets:
                problems.append(f"required column '{column.name}' of {entity} has no export column or constant")
        delimiter = str(spec.get("delimiter", ","))
        delimiter = "\t" if delimiter in ("\\t", "tab") else delimiter
        if len(delimiter) != 1:
            problems.append(f"'delimiter' must be one character, not {delimiter!r}")
        decimal = str(spec.get("decimal", "."))
        if decimal not in (".", ","):
            problems.append(f"'decimal' must be '.' or ',', not {decimal!r}")
        if problems:
            raise _error(source, *problems)
        return cls(entity, columns, constants, delimiter, spec.get("date_format"), decimal,
                   str(spec.get("encoding", "utf-8")), spec.get("sheet"), source)

    def fits(self, header: list[str]) -> bool:
        return all(column in header for column in self.columns)

    def frames(self, raw: RawTable, file: str) -> list[EntityFrame]:
        """Every contract part the mapped export gives (the main entity first)."""
        return [self.apply(raw, file)]

    def apply(self, raw: RawTable, file: str) -> EntityFrame:
        missing = [c for c in self.columns if c not in raw.header]
        if missing:
            raise ContractError([Problem(file, 1, c, None,
                                         f"column '{c}' named in the mapping {self.source} is not in the "
                                         f"header ({', '.join(raw.header)})") for c in missing])
        contract = ENTITIES[self.entity]
        frame = raw.frame
        out = {target: frame[source] for source, target in self.columns.items()}
        for target, value in self.constants.items():
            out[target] = pd.Series([value] * len(frame), index=frame.index, dtype="str")
        for column in contract.columns:
            if column.name not in out:  # optional column the export does not have
                out[column.name] = pd.Series([""] * len(frame), index=frame.index, dtype="str")
            elif self.decimal == "," and column.kind in (FLOAT, INTEGER) and column.name in self.columns.values():
                text = out[column.name].astype("str")
                out[column.name] = text.str.replace(r"[.\s]", "", regex=True).str.replace(",", ".", regex=False)
        result = pd.DataFrame(out, index=frame.index)
        for extra in frame.columns:
            if extra not in self.columns and extra not in result.columns:
                result[extra] = frame[extra]
        return EntityFrame(self.entity, result, raw.row_numbers(), self.date_format)


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


__all__ = ["Mapping", "NoAliasLoader"]
