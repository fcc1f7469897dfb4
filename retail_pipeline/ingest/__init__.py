"""Turning uploaded files into the consolidated tables (no Dagster imports)."""
