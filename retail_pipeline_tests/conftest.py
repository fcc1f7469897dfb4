"""Shared fixtures: small generated data sets, data folders and throw-away databases."""

import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from retail_pipeline.contract import validate
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.platform import settings
from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.sample import SampleData, SampleSize, generate

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_ADMIN_URL = settings.test_pg_url()
SMALL = SampleSize(shops=4, products=25, customers=80, transactions=4_000, start="2023-01-01", years=2)


@pytest.fixture(autouse=True)
def registry_key_outside_data(tmp_path_factory, monkeypatch):
    """Each test signs its model registries with a key file of its own, outside any data folder."""
    key_file = tmp_path_factory.mktemp("keys") / "registry.key"
    monkeypatch.setenv("RETAIL_MODEL_REGISTRY_KEY_FILE", str(key_file))
    monkeypatch.delenv("RETAIL_MODEL_REGISTRY_KEY", raising=False)
    return key_file


@pytest.fixture(scope="session")
def small_sample() -> SampleData:
    return generate(SMALL, seed=7)


def as_uploaded(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as it looks right after reading a CSV: every value text, blanks empty."""
    text = frame.astype("str")
    return text.where(frame.notna(), None)


def typed_tables(sample: SampleData) -> dict[str, pd.DataFrame]:
    return {name: validate(as_uploaded(frame), name) for name, frame in sample.tables().items()}


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    return DataLayout(tmp_path / "data").ensure()


@pytest.fixture
def seeded_layout(layout: DataLayout, small_sample: SampleData) -> DataLayout:
    """A data folder into which the small sample was uploaded and ingested."""
    for name, frame in small_sample.tables().items():
        path = layout.incoming / f"{name}.csv"
        frame.to_csv(path, index=False)
        result = ingest_file(path, layout)
        assert result.accepted, result.summary
    return layout


def _postgres_reachable() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test, dropped afterwards.

    Skips when no server answers on a developer machine; with CI=true that is a failure.
    """
    if not _postgres_reachable():
        if settings.on_ci():
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} and CI=true")
        pytest.skip("PostgreSQL is not reachable")
    name = f"retail_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
