"""Documented settings fields: one knob, one description, shown in the Dagster launchpad.

Each domain keeps its knobs in a plain frozen dataclass (``ForecastSettings``,
``InventorySettings``, ...). A field made with ``documented`` carries its description in
``metadata["doc"]``; ``defs.helpers.config_from_settings`` turns those fields into the
domain's ``dg.Config``, so the plain settings and the UI config cannot drift apart.
"""

from __future__ import annotations

from dataclasses import field


def documented(default, doc: str):
    """A dataclass field whose ``doc`` becomes the launchpad description of its config knob."""
    return field(default=default, metadata={"doc": doc})
