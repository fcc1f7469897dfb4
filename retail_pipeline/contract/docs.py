"""The data contract as Markdown, for the README (a test checks that the README carries it)."""

from __future__ import annotations

from retail_pipeline.contract.entities import ENTITIES, Column


def _rule(column: Column) -> str:
    return f"{column.constraints()}; {column.doc}" if column.doc else column.constraints()


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
