"""Served tables in a SQL database (SQLite by default, PostgreSQL in production).

Two modes, chosen per table:

- **current** (``write_table``): the table is replaced as a whole. The new rows go into a
  staging table with a name unique to this write, and in the *same* transaction the old
  table is dropped and the staging table renamed into its place. Readers see the old
  table or the new one, never neither; a write killed half-way rolls back with its staging
  table (``drop_orphan_staging`` removes any a crashed older version left behind).
- **history** (``append_history``): each run appends its rows with ``run_id`` and
  ``created_at`` (and an ``id`` that grows with every row), and in the same transaction
  the rows beyond the newest ``keep_rows`` rows or ``keep_runs`` runs are deleted. Columns
  people filter by are indexed.

Both back ends get a real transaction around DDL: pysqlite commits DDL on its own unless
the driver's implicit transaction handling is switched off and ``BEGIN`` is emitted
explicitly (the SQLAlchemy-documented recipe, below). PostgreSQL sessions carry a
``lock_timeout`` and a ``statement_timeout``, so a reader holding a lock makes a refresh
fail with the blocking session named instead of waiting forever; a connection lost during a
write is retried with backoff, then reported as the warehouse having gone away. Bulk rows go
to PostgreSQL through ``COPY`` (psycopg2's ``copy_expert``), not row-by-row INSERTs, and to
SQLite through the driver's ``executemany`` on column lists converted once per chunk (pandas'
own path builds a dict per row: 5.5x slower on 1M ``daily_sales`` rows), storing exactly the
values pandas' ``to_sql`` stores (a test compares the two byte for byte).
"""

from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event

from retail_pipeline.platform import settings

log = logging.getLogger(__name__)

STAGING_MARK = "__stg_"
SQLITE_CHUNK_ROWS = 200_000  # rows converted to Python values per executemany
LEGACY_STAGING_SUFFIX = "__staging"
HISTORY_COLUMNS = ("id", "run_id", "created_at")
T = TypeVar("T")


class WarehouseError(RuntimeError):
    """A served-table write failed for a reason a person can act on."""


class WarehouseLockTimeout(WarehouseError):
    """Another session held a lock on the table longer than ``lock_timeout``."""


class WarehouseUnavailable(WarehouseError):
    """The database connection went away and the retries did not bring it back."""


def url_from_env(data_root: Path | str) -> str:
    """The warehouse URL from the settings module, for a data folder."""
    return settings.warehouse_url(data_root)


def normalise_url(url: str) -> str:
    """Pin the PostgreSQL driver to psycopg2.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which this project does not
    install; ``postgres://`` (Heroku style) is not understood at all.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def safe_url(url: str | sa.URL) -> str:
    """The URL without its password, for messages."""
    return sa.make_url(str(url) if isinstance(url, sa.URL) else url).render_as_string(hide_password=True)


def make_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})
        _transactional_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        options = (f"-c lock_timeout={settings.pg_lock_timeout_ms()} "
                   f"-c statement_timeout={settings.pg_statement_timeout_ms()}")
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    return sa.create_engine(url, pool_pre_ping=True)


def _transactional_sqlite(engine: sa.Engine) -> None:
    """Make every ``engine.begin()`` one SQLite transaction, DDL included.

    pysqlite only opens transactions before DML and commits DDL as it goes; with its own
    handling off (``isolation_level = None``) and an explicit ``BEGIN IMMEDIATE`` (which
    takes the write lock up front), a drop and a rename commit together or not at all. WAL
    lets readers keep reading the old table while a refresh writes.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _copy_insert(table, conn, keys, data_iter) -> None:
    """pandas ``to_sql`` method for PostgreSQL: stream the rows through ``COPY``."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(data_iter)
    buffer.seek(0)
    quote = conn.dialect.identifier_preparer.quote
    name = f"{quote(table.schema)}.{quote(table.name)}" if table.schema else quote(table.name)
    columns = ", ".join(quote(k) for k in keys)
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def _sqlite_ready(frame: pd.DataFrame) -> bool:
    """Whether every column converts in ``_sqlite_column`` exactly as pandas' ``to_sql`` would:
    numbers, booleans, naive datetimes and text; anything else takes pandas' own path."""
    for _, column in frame.items():
        dtype = column.dtype
        if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "m":
            return False
        if dtype.kind in "biufM":
            continue
        if pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty"):
            return False
    return True


def _sqlite_column(column: pd.Series) -> list:
    """One column as the Python values SQLAlchemy hands SQLite for it (NULL for missing)."""
    kind = column.dtype.kind
    if kind == "M":  # SQLAlchemy's SQLite DATETIME text, microseconds included
        column = column.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif kind == "b":
        return column.astype("int64").tolist()
    elif kind in "iu" and not column.hasnans:
        return column.tolist()
    return column.astype(object).where(column.notna(), None).tolist()


def _sqlite_executemany(conn: sa.Connection, quoted_table: str, frame: pd.DataFrame,
                        chunksize: int) -> None:
    """Insert ``frame`` through the sqlite3 driver, one ``executemany`` per chunk of rows."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(str(c)) for c in frame.columns)
    marks = ", ".join("?" * len(frame.columns))
    statement = f"INSERT INTO {quoted_table} ({names}) VALUES ({marks})"
    cursor = conn.connection.driver_connection.cursor()
    try:
        for start in range(0, len(frame), chunksize):
            part = frame.iloc[start:start + chunksize]
            cursor.executemany(statement, zip(*(_sqlite_column(part[c]) for c in part.columns),
                                              strict=True))
    finally:
        cursor.close()


@dataclass(frozen=True)
class History:
    """How much of a history-mode table to keep (newest first) and what to index.

    Neither limit given: the newest ``RETAIL_HISTORY_KEEP_ROWS`` rows are kept.
    """

    keep_rows: int | None = None
    keep_runs: int | None = None
    index_columns: tuple[str, ...] = ()

    def __post_init__(self):
        if self.keep_rows is not None and self.keep_rows < 1:
            raise ValueError("keep_rows must be at least 1")
        if self.keep_runs is not None and self.keep_runs < 1:
            raise ValueError("keep_runs must be at least 1")


def _is_connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    text = str(exc).lower()
    return any(s in text for s in (
        "server closed the connection", "terminating connection", "connection already closed",
        "could not connect", "connection refused", "ssl connection has been closed",
        "no connection to the server", "connection to server"))


class Warehouse:
    def __init__(self, url: str, retries: int | None = None, backoff_s: float = 0.5):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.retries = settings.db_retries() if retries is None else retries
        self.backoff_s = backoff_s

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    # -- fault handling ----------------------------------------------------------------
    def _with_retries(self, step: str, work: Callable[[sa.Connection], T],
                      relation: str | None = None) -> T:
        """Run ``work`` in one transaction; retry it when the connection was lost."""
        attempt = 0
        while True:
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except sa.exc.DBAPIError as exc:
                if self.dialect == "postgresql" and _pg_code(exc) == "55P03":
                    raise self._lock_error(step, exc, relation) from exc
                if self.dialect == "postgresql" and _pg_code(exc) == "57014":
                    raise WarehouseError(
                        f"{step} on the warehouse at {safe_url(self.url)} was cancelled after "
                        f"statement_timeout ({settings.pg_statement_timeout_ms()} ms; setting "
                        "RETAIL_PG_STATEMENT_TIMEOUT_MS)") from exc
                if not _is_connection_lost(exc):
                    raise
                attempt += 1
                if attempt > self.retries:
                    raise WarehouseUnavailable(
                        f"the warehouse at {safe_url(self.url)} went away during {step} "
                        f"(tried {attempt} times): {str(exc.orig or exc).strip().splitlines()[0]}"
                    ) from exc
                wait = self.backoff_s * 2 ** (attempt - 1)
                log.warning("warehouse connection lost during %s (attempt %d of %d); retrying "
                            "in %.1f s", step, attempt, self.retries + 1, wait)
                self.engine.dispose()
                time.sleep(wait)

    def _lock_error(self, step: str, exc: BaseException,
                    relation: str | None) -> WarehouseLockTimeout:
        relation = relation or _relation_in(str(exc))
        blockers = ""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT a.pid, a.usename, a.state, left(a.query, 80) AS query "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.granted AND l.relation = to_regclass(:rel) AND a.pid <> pg_backend_pid()"
                ), {"rel": relation}).fetchall() if relation else []
            blockers = "; ".join(f"pid {r.pid} ({r.usename}, {r.state}): {r.query}" for r in rows)
        except sa.exc.DBAPIError:
            pass
        return WarehouseLockTimeout(
            f"{step} could not lock table {relation or '?'} on the warehouse at "
            f"{safe_url(self.url)} within lock_timeout ({settings.pg_lock_timeout_ms()} ms): "
            f"another session holds it ({blockers or 'session not visible'}). Find it with "
            f"SELECT pid, state, query FROM pg_stat_activity WHERE pid IN (SELECT pid FROM "
            f"pg_locks WHERE relation = '{relation}'::regclass); end it with "
            "pg_terminate_backend(pid), or commit that session.")

    # -- current mode ------------------------------------------------------------------
    def write_table(self, name: str, frame: pd.DataFrame, chunksize: int = 50_000) -> int:
        """Replace table ``name`` with ``frame`` in one transaction; returns the row count."""
        staging = f"{name}{STAGING_MARK}{uuid.uuid4().hex[:10]}"

        def work(conn: sa.Connection) -> int:
            self._insert(conn, staging, frame, "fail", chunksize)
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(name)}"))
            conn.execute(sa.text(f"ALTER TABLE {self._quote(staging)} RENAME TO {self._quote(name)}"))
            return len(frame)

        return self._with_retries(f"the refresh of table {name}", work, relation=name)

    def _insert(self, conn: sa.Connection, name: str, frame: pd.DataFrame, if_exists: str,
                chunksize: int = 50_000) -> None:
        """``frame``'s rows into table ``name`` (created from its dtypes unless it exists)."""
        if self.dialect == "postgresql":
            frame.to_sql(name, conn, if_exists=if_exists, index=False, chunksize=chunksize,
                         method=_copy_insert)
            return
        if self.dialect == "sqlite" and _sqlite_ready(frame):
            frame.head(0).to_sql(name, conn, if_exists=if_exists, index=False)
            _sqlite_executemany(conn, self._quote(name), frame, SQLITE_CHUNK_ROWS)
            return
        frame.to_sql(name, conn, if_exists=if_exists, index=False, chunksize=chunksize)

    # -- history mode ------------------------------------------------------------------
    def append_history(self, name: str, frame: pd.DataFrame, run_id: str,
                       policy: History | None = None, created_at: datetime | None = None) -> dict:
        """Append ``frame`` as run ``run_id`` and trim to ``policy``, in one transaction.

        Returns ``{"appended": n, "deleted": m, "kept": k}``.
        """
        policy = policy or History()
        if policy.keep_rows is None and policy.keep_runs is None:  # no limit given: the default
            policy = History(keep_rows=settings.history_keep_rows(),
                             index_columns=policy.index_columns)
        clash = [c for c in ("id", "run_id") if c in frame.columns]
        if clash:
            raise ValueError(f"history table {name}: columns {clash} are reserved")
        rows = frame.assign(run_id=run_id)
        if "created_at" not in rows.columns:  # a frame may carry its own creation time
            stamp = created_at or datetime.now(UTC).replace(tzinfo=None)
            rows = rows.assign(created_at=pd.Timestamp(stamp))
        quoted = self._quote(name)

        def work(conn: sa.Connection) -> dict:
            self._ensure_history_table(conn, name, rows, policy)
            self._insert(conn, name, rows, "append")
            deleted = 0
            if policy.keep_runs is not None:
                deleted += conn.execute(sa.text(
                    f"DELETE FROM {quoted} WHERE run_id NOT IN (SELECT run_id FROM ("
                    f"SELECT run_id, MAX(id) AS newest FROM {quoted} GROUP BY run_id "
                    f"ORDER BY newest DESC LIMIT :n) AS keep)"), {"n": policy.keep_runs}).rowcount
            if policy.keep_rows is not None:
                deleted += conn.execute(sa.text(
                    f"DELETE FROM {quoted} WHERE id < (SELECT MIN(id) FROM (SELECT id FROM "
                    f"{quoted} ORDER BY id DESC LIMIT :n) AS keep)"), {"n": policy.keep_rows}).rowcount
            kept = conn.execute(sa.text(f"SELECT COUNT(*) FROM {quoted}")).scalar_one()
            return {"appended": len(rows), "deleted": int(deleted), "kept": int(kept)}

        return self._with_retries(f"the append to history table {name}", work, relation=name)

    def _ensure_history_table(self, conn: sa.Connection, name: str, rows: pd.DataFrame,
                              policy: History) -> None:
        inspector = sa.inspect(conn)
        if not inspector.has_table(name):
            columns = [sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                 primary_key=True, autoincrement=True)]
            columns += [sa.Column(str(c), _sql_type(rows[c])) for c in rows.columns]
            table = sa.Table(name, sa.MetaData(), *columns)
            table.create(conn)
            for column in ("run_id", "created_at", *policy.index_columns):
                sa.Index(f"ix_{name}_{column}", table.c[column]).create(conn)
            return
        existing = {c["name"] for c in inspector.get_columns(name)}
        for column in rows.columns:
            if column not in existing:  # a new output column: the table grows, old rows NULL
                type_ = _sql_type(rows[column]).compile(dialect=conn.dialect)
                conn.execute(sa.text(
                    f"ALTER TABLE {self._quote(name)} ADD COLUMN {self._quote(str(column))} {type_}"))

    # -- housekeeping and reading ------------------------------------------------------
    def drop_orphan_staging(self) -> list[str]:
        """Drop staging tables a killed write of an older version left behind."""
        orphans = [t for t in self.table_names(include_staging=True)
                   if STAGING_MARK in t or t.endswith(LEGACY_STAGING_SUFFIX)]
        for table in orphans:
            def work(conn, table=table):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(table)}"))
            self._with_retries(f"dropping orphan staging table {table}", work)
            log.warning("dropped orphan staging table %s", table)
        return orphans

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql_table(name, conn, columns=list(columns) if columns else None)

    def contains(self, name: str, column: str, value) -> bool:
        """Whether table ``name`` exists and has a row whose ``column`` equals ``value``."""
        if not self.has_table(name):
            return False
        with self.engine.connect() as conn:
            return conn.execute(sa.text(
                f"SELECT 1 FROM {self._quote(name)} WHERE {self._quote(column)} = :v LIMIT 1"),
                {"v": value}).first() is not None

    def has_table(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    def table_names(self, include_staging: bool = False) -> list[str]:
        names = sorted(sa.inspect(self.engine).get_table_names())
        if include_staging:
            return names
        return [n for n in names if STAGING_MARK not in n and not n.endswith(LEGACY_STAGING_SUFFIX)]

    def row_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {name: conn.execute(sa.text(f"SELECT COUNT(*) FROM {self._quote(name)}")).scalar_one()
                    for name in self.table_names()}

    def dispose(self) -> None:
        self.engine.dispose()


def _sql_type(series: pd.Series) -> sa.types.TypeEngine:
    kind = series.dtype.kind
    if kind == "b":
        return sa.Boolean()
    if kind in "iu":
        return sa.BigInteger()
    if kind == "f":
        return sa.Float()
    if kind == "M":
        return sa.DateTime()
    return sa.Text()


def _pg_code(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "pgcode", None)


def _relation_in(message: str) -> str | None:
    """The table a PostgreSQL lock error names, if it names one."""
    import re

    match = re.search(r'relation "([^"]+)"', message)
    return match.group(1) if match else None
