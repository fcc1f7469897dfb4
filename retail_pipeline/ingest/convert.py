"""From a recognised export's rows of text to the contract entities it holds.

One place decides how each known layout becomes contract tables (canonical files only
need their columns renamed; the other layouts have a converter module of their own); the
reader then validates every part with the contract.
"""

from __future__ import annotations

from retail_pipeline.ingest import formats
from retail_pipeline.ingest.formats import EntityFrame, Recognised
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.tables import RawTable
from retail_pipeline.ingest.woocommerce import woocommerce_frames


def entity_frames(found: Recognised, raw: RawTable, file: str, mapping: Mapping | None) -> list[EntityFrame]:
    """The contract parts (still text) of an export recognised as ``found``."""
    if found.format == "woocommerce":
        return woocommerce_frames(raw.frame, raw.row_numbers(), file)
    if found.format == "mapping":
        return mapping.frames(raw, file)
    return formats.canonical_frames(found, raw.frame, raw.row_numbers())
