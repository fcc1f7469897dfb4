"""Plain data logic of the retail pipeline: no Dagster imports here.

Dagster assets in ``retail_pipeline.defs`` call these functions; tests call them directly.
"""
