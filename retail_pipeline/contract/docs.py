"""The data contract as Markdown, for the README (a test checks that the README carries it)."""

from __future__ import annotations

from retail_pipeline.contract.entities import ENTITIES, Column


def _rule(column: Column) -> str:
    parts = []
    if column.min is not None:
        parts.append(f"{'>' if column.min_exclusive else '>='} {column.min:g}")
    if column.max is not None:
        parts.append(f"<= {column.max:g}")
    if column.optional:
        parts.append("optional column")
    else:
        parts.append("may be empty" if column.nullable else "required")
    text = ", ".join(parts)
    return f"{text}; {column.doc}" if column.doc else text


def contract_markdown() -> str:
    blocks = []
    for entity in ENTITIES.values():
        lines = [f"**{entity.name}** — {entity.doc} Key: `{', '.join(entity.key)}`.", "",
                 "| column | type | rule |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.kind} | {_rule(c)} |" for c in entity.columns]
        if entity.row_rules:
            lines += ["", "Row rules: " + "; ".join(r.text() for r in entity.row_rules) + "."]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
