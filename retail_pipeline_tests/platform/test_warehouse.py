"""Serving tables: atomic replacement on SQLite and PostgreSQL."""

import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.platform.warehouse import Warehouse, normalise_url


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'w.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    wh = Warehouse(url)
    yield wh
    wh.dispose()


def test_round_trip_and_replace(warehouse):
    first = pd.DataFrame({"shop_id": ["S1", "S2"], "quantity": [1.5, 2.0],
                          "date": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    warehouse.write_table("daily_sales", first)
    back = warehouse.read_table("daily_sales")
    assert back["shop_id"].tolist() == ["S1", "S2"] and back["quantity"].tolist() == [1.5, 2.0]
    assert pd.to_datetime(back["date"]).tolist() == first["date"].tolist()
    warehouse.write_table("daily_sales", first.iloc[:1])
    assert len(warehouse.read_table("daily_sales")) == 1
    assert warehouse.table_names() == ["daily_sales"]  # no staging table left behind
    assert warehouse.row_counts() == {"daily_sales": 1}


def test_failed_write_keeps_the_previous_version(warehouse, monkeypatch):
    good = pd.DataFrame({"metric": ["total_revenue"], "value": [10.0]})
    warehouse.write_table("kpi_summary", good)
    real_insert = Warehouse._insert

    def rows_then_crash(self, conn, name, frame, *args):  # the staging rows are in, then it fails
        real_insert(self, conn, name, frame, *args)
        raise RuntimeError(f"disk full while writing {name}")

    monkeypatch.setattr(Warehouse, "_insert", rows_then_crash)
    with pytest.raises(RuntimeError, match="kpi_summary__stg_"):
        warehouse.write_table("kpi_summary", pd.DataFrame({"metric": ["x"], "value": [1.0]}))
    monkeypatch.undo()
    assert warehouse.read_table("kpi_summary")["value"].tolist() == [10.0]
    assert warehouse.table_names(include_staging=True) == ["kpi_summary"]  # rolled back too


def test_postgres_urls_are_pinned_to_psycopg2():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_bulk_path_stores_what_pandas_to_sql_stores(tmp_path):
    """The executemany path writes the same SQLite values and column types as pandas' to_sql."""
    n = 1_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "date": pd.date_range("2024-01-01 08:30:15.25", periods=n, freq="37min"),
        "shop": pd.Series([f"S{i % 7}" for i in range(n)], dtype="str"),
        "units": rng.normal(size=n), "count": np.arange(n, dtype="int64"),
        "maybe": pd.array([i if i % 5 else None for i in range(n)], dtype="Int64"),
        "flag": np.arange(n) % 3 == 0, "note": [None if i % 4 else f"n{i}" for i in range(n)],
    })
    frame.loc[::9, "units"] = np.nan
    frame.loc[::11, "date"] = pd.NaT
    ours = Warehouse(f"sqlite:///{tmp_path / 'ours.db'}")
    ours.write_table("t", frame, chunksize=128)
    ours.append_history("h", frame, "run-1")
    ours.dispose()
    reference = tmp_path / "pandas.db"
    engine = sa.create_engine(f"sqlite:///{reference}")
    frame.to_sql("t_sa", engine, index=False)  # SQLAlchemy: what the warehouse did before
    engine.dispose()

    def rows(path, table, columns="*"):
        with sqlite3.connect(path) as conn:
            return conn.execute(f'SELECT {columns} FROM "{table}"').fetchall()

    def types(path, table):
        with sqlite3.connect(path) as conn:
            return [(r[1], r[2]) for r in conn.execute(f'PRAGMA table_info("{table}")')]

    names = ", ".join(f'"{c}"' for c in frame.columns)
    assert rows(tmp_path / "ours.db", "t") == rows(reference, "t_sa")
    assert rows(tmp_path / "ours.db", "h", names) == rows(reference, "t_sa")
    assert types(tmp_path / "ours.db", "t") == types(reference, "t_sa")
    assert rows(tmp_path / "ours.db", "t")[11][0] is None  # NaT -> NULL
    assert rows(tmp_path / "ours.db", "t")[1][0] == "2024-01-01 09:07:15.250000"


def test_columns_pandas_must_convert_take_the_pandas_path(tmp_path):
    """A column of Python objects other than text (here dates) is left to pandas' to_sql."""
    frame = pd.DataFrame({"day": [pd.Timestamp("2024-01-02").date()], "x": [1.0]})
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.write_table("t", frame)
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute('SELECT day, x FROM "t"').fetchall() == [("2024-01-02", 1.0)]
    warehouse.dispose()
