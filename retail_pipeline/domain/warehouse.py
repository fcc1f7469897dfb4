"""Serving tables in a SQL database (SQLite by default, PostgreSQL in production).

A table is replaced by writing the new version under a staging name and then, in one
transaction, dropping the old table and renaming the staging table into its place. A
failure while writing leaves the previous version untouched, and readers never see a
half-filled table (both SQLite and PostgreSQL have transactional DDL).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

STAGING_SUFFIX = "__staging"


def url_from_env(data_root: Path | str) -> str:
    """``RETAIL_WAREHOUSE_URL`` when set, else a SQLite file ``warehouse.db`` in the data folder."""
    return os.environ.get("RETAIL_WAREHOUSE_URL") or f"sqlite:///{Path(data_root).resolve() / 'warehouse.db'}"


def normalise_url(url: str) -> str:
    """Pin the PostgreSQL driver to psycopg2.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which this project does not
    install; ``postgres://`` (Heroku style) is not understood at all.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def make_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, pool_pre_ping=True)


class Warehouse:
    def __init__(self, url: str):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)

    def write_table(self, name: str, frame: pd.DataFrame, chunksize: int = 50_000) -> int:
        """Replace table ``name`` with ``frame`` atomically; returns the row count."""
        staging = f"{name}{STAGING_SUFFIX}"
        frame.to_sql(staging, self.engine, if_exists="replace", index=False,
                     chunksize=chunksize, method=None)
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(name)}"))
            conn.execute(sa.text(f"ALTER TABLE {quote(staging)} RENAME TO {quote(name)}"))
        return len(frame)

    def read_table(self, name: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql_table(name, conn)

    def table_names(self) -> list[str]:
        return sorted(sa.inspect(self.engine).get_table_names())

    def row_counts(self) -> dict[str, int]:
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.connect() as conn:
            return {name: conn.execute(sa.text(f"SELECT COUNT(*) FROM {quote(name)}")).scalar_one()
                    for name in self.table_names()}

    def dispose(self) -> None:
        self.engine.dispose()
