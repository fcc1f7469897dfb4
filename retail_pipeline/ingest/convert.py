"""From a recognised export's rows of text to the contract entities it holds.

One place decides how each known layout becomes contract tables (canonical files only
need their columns renamed; the other layouts have a converter module of their own); the
reader then validates every part with the contract.
"""

from __future__ import annotations

import pandas as pd

from retail_pipeline.ingest import formats, transforms
from retail_pipeline.ingest.formats import EntityFrame, Recognised
from retail_pipeline.ingest.invoices import invoice_frames
from retail_pipeline.ingest.mapping import Mapping
from retail_pipeline.ingest.shopify import shopify_frames
from retail_pipeline.ingest.tables import RawTable
from retail_pipeline.ingest.woocommerce import woocommerce_frames


def entity_frames(found: Recognised, raw: RawTable, file: str, mapping: Mapping | None) -> list[EntityFrame]:
    """The contract parts (still text) of an export recognised as ``found``."""
    if found.format == "woocommerce":
        return woocommerce_frames(raw.frame, raw.row_numbers(), file)
    if found.format == "shopify":
        return shopify_frames(raw.frame, raw.row_numbers(), file)
    if found.format == "invoice_lines":
        return invoice_frames(raw.frame, raw.row_numbers(), file, found.rename)
    if found.format == "mapping":
        return mapping.frames(raw, file)
    return [_complete_key(part, file) for part in formats.canonical_frames(found, raw.frame, raw.row_numbers())]


def _complete_key(part: EntityFrame, file: str) -> EntityFrame:
    """Customer profiles may come without ids: an empty id is the company name, else the
    profile's place in its file (``<file>:row<n>``), which a later upload of the same file
    replaces row by row."""
    if part.entity != "customer_profiles":
        return part
    frame = part.frame.copy()
    ids = frame["id"] if "id" in frame.columns else pd.Series("", index=frame.index, dtype="str")
    names = frame["company_name"] if "company_name" in frame.columns else ids.where(False, "")
    stem = file.rsplit("/", 1)[-1]
    by_row = pd.Series([f"{stem}:row{n}" for n in part.rows], index=frame.index, dtype="str")
    frame["id"] = ids.where(~transforms.blank(ids), names.where(~transforms.blank(names), by_row)).astype("str")
    return EntityFrame(part.entity, frame, part.rows, part.date_format)
