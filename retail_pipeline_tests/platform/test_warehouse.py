"""Serving tables: atomic replacement on SQLite and PostgreSQL."""

import pandas as pd
import pytest

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
    real_to_sql = pd.DataFrame.to_sql

    def rows_then_crash(self, name, con, **kwargs):  # the staging rows are in, then it fails
        real_to_sql(self, name, con, **kwargs)
        raise RuntimeError(f"disk full while writing {name}")

    monkeypatch.setattr(pd.DataFrame, "to_sql", rows_then_crash)
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
