"""Resources shared by every domain: where user data lives and where tables are served.

Both read their location from the environment when it is set (``RETAIL_DATA_DIR``,
``RETAIL_WAREHOUSE_URL``) so that the same code runs on a laptop (SQLite under ./data)
and in production (PostgreSQL), and both can be overridden in tests.
"""


import os
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from retail_pipeline.domain.layout import DEFAULT_DATA_DIR, DataLayout
from retail_pipeline.domain.warehouse import Warehouse, url_from_env
from retail_pipeline.ingestion.store import TableStore


class DataDirResource(dg.ConfigurableResource):
    """The root of all user data: uploads, consolidated tables, charts and models."""

    root: str = DEFAULT_DATA_DIR

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.root).resolve()).ensure()

    @property
    def store(self) -> TableStore:
        return TableStore(self.layout.store)


class WarehouseResource(dg.ConfigurableResource):
    """The SQL database that serving tables are written to (SQLAlchemy URL)."""

    url: str
    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._warehouse = Warehouse(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._warehouse is not None:
            self._warehouse.dispose()

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(self.url)
        return self._warehouse

    def write_table(self, name: str, frame) -> int:
        return self.warehouse.write_table(name, frame)

    def read_table(self, name: str):
        return self.warehouse.read_table(name)


def _from_env(name: str, default: str) -> str | dg.EnvVar:
    return dg.EnvVar(name) if os.environ.get(name) else default


def default_resources() -> dict[str, dg.ConfigurableResource]:
    default_url = url_from_env(os.environ.get("RETAIL_DATA_DIR", DEFAULT_DATA_DIR))
    return {
        "data_dir": DataDirResource(root=_from_env("RETAIL_DATA_DIR", DEFAULT_DATA_DIR)),
        "warehouse": WarehouseResource(url=_from_env("RETAIL_WAREHOUSE_URL", default_url)),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
