"""Every environment variable the project reads, in one place, with its default and meaning.

No other module reads ``os.environ``: they call the accessors below. The README's
configuration table is generated from ``SETTINGS`` (``markdown_table``) and a test checks
that the two agree, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    """The value used when the variable is unset or empty (shown in the README)."""
    doc: str


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("RETAIL_DATA_DIR", "./data",
            "root of all user data: `incoming/`, `archive/`, `quarantine/`, `backups/`, `store/`, "
            "`charts/`, `models/`, `io/` (see `data/README.md`)"),
    Setting("RETAIL_WAREHOUSE_URL", "sqlite:///$RETAIL_DATA_DIR/warehouse.db",
            "SQLAlchemy URL of the warehouse the served tables are written to; `postgresql://...` "
            "is accepted and pinned to the psycopg2 driver"),
    Setting("RETAIL_IO_BASE", "$RETAIL_DATA_DIR/io",
            "where assets hand DataFrames to each other as Parquet (a folder, or an fsspec URL "
            "such as `s3://bucket/prefix` that every worker can reach)"),
    Setting("DAGSTER_HOME", "./dagster_home",
            "set by the Makefile; the Dagster instance: `dagster_home/dagster.yaml` keeps runs, events and schedules "
            "in embedded SQLite; also holds the registry key file by default"),
    Setting("DAGSTER_POSTGRES_URL", "",
            "with `DAGSTER_HOME=deploy/postgres`: the PostgreSQL database of the Dagster instance "
            "(a `postgresql+psycopg2://` URL)"),
    Setting("RETAIL_MAX_UPLOAD_AGE_HOURS", "26",
            "the `upload_freshness` checks warn when an entity's last accepted upload is older"),
    Setting("RETAIL_MODEL_REGISTRY_KEY", "",
            "the HMAC key that signs the model registry's index; when unset, the key file below"),
    Setting("RETAIL_MODEL_REGISTRY_KEY_FILE", "$DAGSTER_HOME/registry.key",
            "file holding the registry key (created on first use, mode 0600); never inside "
            "`RETAIL_DATA_DIR`"),
    Setting("RETAIL_HISTORY_KEEP_ROWS", "1000",
            "history-mode served tables keep at most this many newest rows unless the table "
            "sets its own limit"),
    Setting("RETAIL_PG_LOCK_TIMEOUT_MS", "15000",
            "PostgreSQL warehouse sessions give up waiting for a table lock after this long"),
    Setting("RETAIL_PG_STATEMENT_TIMEOUT_MS", "600000",
            "PostgreSQL warehouse sessions cancel a single statement after this long"),
    Setting("RETAIL_DB_RETRIES", "3",
            "how often a warehouse write is retried after the database connection was lost"),
    Setting("RETAIL_HOST", "127.0.0.1", "the address `make dev` binds the UI to (never `HOST`)"),
    Setting("RETAIL_PORT", "3000", "the port `make dev` serves the UI on"),
    Setting("RETAIL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
            "tests only: the PostgreSQL server where tests create and drop their own databases"),
    Setting("CI", "", "`true` on CI: tests fail instead of skipping when a server is unreachable"),
    Setting("RETAIL_MAX_COLUMNS", "500",
            "an upload whose header has more columns is rejected before its rows are read"),
    Setting("RETAIL_MAX_UPLOAD_MB", "512",
            "an upload holding more data is rejected (measured after decompression, checked "
            "while decompressing, so a gzip bomb stops here)"),
    Setting("RETAIL_MAX_BAD_ROW_SHARE", "0.01",
            "an upload whose rows break the contract is still accepted without those rows when "
            "they are at most this share of its rows (they go to `quarantine/<file>.rejected.csv`); "
            "above it the whole file is rejected; `0` accepts only flawless files"),
    Setting("RETAIL_STRICT_UPLOADS", "false",
            "`true`: all or nothing, a single bad row rejects the whole upload (as "
            "`retail-pipeline ingest --strict`)"),
    Setting("RETAIL_MAX_MAPPING_KB", "64",
            "a column-mapping YAML file larger than this is refused (YAML aliases are refused too)"),
    Setting("RETAIL_TEMP_GRACE_SECONDS", "900",
            "temporary files older than this, left by a killed write, are removed at the start "
            "of an ingestion, at each upload-sensor tick and by `retail-pipeline doctor`"),
    Setting("RETAIL_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//",
            "the Celery broker of `refresh_all_distributed` and `make workers` (RabbitMQ; "
            "see `deploy/celery/`)"),
    Setting("RETAIL_CELERY_BACKEND", "rpc://",
            "the Celery result backend: `rpc://` sends each step's events back through the "
            "broker to the run that submitted it (no other server needed)"),
    Setting("RETAIL_CELERY_QUEUE", "dagster",
            "the Celery queue `refresh_all_distributed` submits its steps to and `make workers` "
            "listens on; a different name keeps two clusters on one broker apart"),
    Setting("RETAIL_FORECAST_BUCKETS", "8",
            "series buckets (Dagster partitions) of `forecast_partitioned_job`: each product's "
            "series go to bucket blake2b(product id) mod this; changing it re-partitions the "
            "forecast (backfill every bucket)"),
    Setting("RETAIL_ENGINE", "auto",
            "the engine of the large sales steps (`sales_features`, `daily_sales`): `pandas`, "
            "`duckdb` (dimension joins in DuckDB, per-line measures vectorised; identical frames), "
            "or `auto` = `duckdb` from 1,000,000 transaction lines on, `pandas` below"),
)}


def raw(name: str) -> str | None:
    """The variable's value when it is set and not empty, else ``None``."""
    if name not in SETTINGS:
        raise KeyError(f"{name} is not a documented setting; add it to SETTINGS")
    value = os.environ.get(name)
    return value if value else None


def is_set(name: str) -> bool:
    return raw(name) is not None


def data_dir() -> Path:
    return Path(raw("RETAIL_DATA_DIR") or "data").resolve()


def warehouse_url(data_root: Path | str | None = None) -> str:
    """``RETAIL_WAREHOUSE_URL``, else a SQLite file ``warehouse.db`` in the data folder."""
    root = Path(data_root).resolve() if data_root is not None else data_dir()
    return raw("RETAIL_WAREHOUSE_URL") or f"sqlite:///{root / 'warehouse.db'}"


def io_base(data_root: Path | str | None = None) -> str:
    root = Path(data_root).resolve() if data_root is not None else data_dir()
    return raw("RETAIL_IO_BASE") or str(root / "io")


def dagster_home() -> Path | None:
    value = raw("DAGSTER_HOME")
    return Path(value).resolve() if value else None


def max_upload_age_hours() -> float:
    return float(raw("RETAIL_MAX_UPLOAD_AGE_HOURS") or SETTINGS["RETAIL_MAX_UPLOAD_AGE_HOURS"].default)


def registry_key_env() -> str | None:
    return raw("RETAIL_MODEL_REGISTRY_KEY")


def registry_key_file() -> Path:
    """Where the registry key lives: the setting, else ``$DAGSTER_HOME``, else the user's config."""
    value = raw("RETAIL_MODEL_REGISTRY_KEY_FILE")
    if value:
        return Path(value).expanduser().resolve()
    home = dagster_home()
    if home is not None:
        return home / "registry.key"
    return Path("~/.config/retail_pipeline/registry.key").expanduser().resolve()


def history_keep_rows() -> int:
    return int(raw("RETAIL_HISTORY_KEEP_ROWS") or SETTINGS["RETAIL_HISTORY_KEEP_ROWS"].default)


def pg_lock_timeout_ms() -> int:
    return int(raw("RETAIL_PG_LOCK_TIMEOUT_MS") or SETTINGS["RETAIL_PG_LOCK_TIMEOUT_MS"].default)


def pg_statement_timeout_ms() -> int:
    return int(raw("RETAIL_PG_STATEMENT_TIMEOUT_MS")
               or SETTINGS["RETAIL_PG_STATEMENT_TIMEOUT_MS"].default)


def db_retries() -> int:
    return int(raw("RETAIL_DB_RETRIES") or SETTINGS["RETAIL_DB_RETRIES"].default)


def max_columns() -> int:
    return int(raw("RETAIL_MAX_COLUMNS") or SETTINGS["RETAIL_MAX_COLUMNS"].default)


def max_upload_bytes() -> int:
    return int(float(raw("RETAIL_MAX_UPLOAD_MB") or SETTINGS["RETAIL_MAX_UPLOAD_MB"].default) * 2**20)


def max_bad_row_share() -> float:
    """Share of bad rows (0..1) an upload may hold and still be accepted without them; 0 when
    ``RETAIL_STRICT_UPLOADS`` is true."""
    if strict_uploads():
        return 0.0
    value = float(raw("RETAIL_MAX_BAD_ROW_SHARE") or SETTINGS["RETAIL_MAX_BAD_ROW_SHARE"].default)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"RETAIL_MAX_BAD_ROW_SHARE must be between 0 and 1, not {value}")
    return value


def strict_uploads() -> bool:
    value = (raw("RETAIL_STRICT_UPLOADS") or SETTINGS["RETAIL_STRICT_UPLOADS"].default).strip().lower()
    return value in ("1", "true", "yes", "on")


def max_mapping_bytes() -> int:
    return int(float(raw("RETAIL_MAX_MAPPING_KB") or SETTINGS["RETAIL_MAX_MAPPING_KB"].default) * 2**10)


def temp_grace_seconds() -> float:
    return float(raw("RETAIL_TEMP_GRACE_SECONDS") or SETTINGS["RETAIL_TEMP_GRACE_SECONDS"].default)


def test_pg_url() -> str:
    return raw("RETAIL_TEST_PG_URL") or SETTINGS["RETAIL_TEST_PG_URL"].default


def on_ci() -> bool:
    return (raw("CI") or "").lower() == "true"


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| variable | default | what it sets |", "|---|---|---|"]
    for s in SETTINGS.values():
        default = f"`{s.default}`" if s.default else ""
        lines.append(f"| `{s.name}` | {default} | {s.doc} |")
    return "\n".join(lines)


def celery_broker() -> str:
    return raw("RETAIL_CELERY_BROKER") or SETTINGS["RETAIL_CELERY_BROKER"].default


def forecast_buckets() -> int:
    value = int(raw("RETAIL_FORECAST_BUCKETS") or SETTINGS["RETAIL_FORECAST_BUCKETS"].default)
    if value < 1:
        raise ValueError(f"RETAIL_FORECAST_BUCKETS must be at least 1, got {value}")
    return value


def celery_backend() -> str:
    return raw("RETAIL_CELERY_BACKEND") or SETTINGS["RETAIL_CELERY_BACKEND"].default


def celery_queue() -> str:
    return raw("RETAIL_CELERY_QUEUE") or SETTINGS["RETAIL_CELERY_QUEUE"].default


ENGINES = ("auto", "pandas", "duckdb")
AUTO_DUCKDB_ROWS = 1_000_000
"""With ``RETAIL_ENGINE=auto``, inputs with at least this many lines go to DuckDB."""


def engine() -> str:
    """``RETAIL_ENGINE``: ``auto``, ``pandas`` or ``duckdb`` (see ``AUTO_DUCKDB_ROWS``)."""
    value = (raw("RETAIL_ENGINE") or SETTINGS["RETAIL_ENGINE"].default).strip().lower()
    if value not in ENGINES:
        raise ValueError(f"RETAIL_ENGINE must be one of {', '.join(ENGINES)}, not {value!r}")
    return value
