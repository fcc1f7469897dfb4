"""Resources shared by every domain: the data folder, the warehouse and the IO manager.

Locations come from the settings module (``retail_pipeline.platform.settings``): when an
environment variable is set it is passed as ``dg.EnvVar`` (so the UI shows where a value
comes from without showing secrets), otherwise the documented default is used. Tests pass
their own temporary folders and databases.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from retail_pipeline.defs.io_manager import ParquetIOManagerResource
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform import settings
from retail_pipeline.platform.layout import DataLayout
from retail_pipeline.platform.warehouse import History, Warehouse


class DataDirResource(dg.ConfigurableResource):
    """The root of all user data: uploads, consolidated tables, charts and models."""

    root: str = Field(default="data", description="The data folder (RETAIL_DATA_DIR): incoming/, "
                                                  "archive/, quarantine/, store/, charts/, models/.")

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.root).resolve()).ensure()

    @property
    def store(self) -> TableStore:
        return TableStore(self.layout.store)


class WarehouseResource(dg.ConfigurableResource):
    """The SQL database the served tables are written to."""

    url: str = Field(description="SQLAlchemy URL (RETAIL_WAREHOUSE_URL): sqlite:///... or "
                                 "postgresql+psycopg2://user@host/db.")
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

    def append_history(self, name: str, frame, run_id: str, policy: History | None = None) -> dict:
        return self.warehouse.append_history(name, frame, run_id, policy)

    def read_table(self, name: str):
        return self.warehouse.read_table(name)


def _from_env(name: str, default: str) -> str | dg.EnvVar:
    return dg.EnvVar(name) if settings.is_set(name) else default


def default_resources() -> dict:
    data_root = settings.data_dir()
    return {
        "data_dir": DataDirResource(root=_from_env("RETAIL_DATA_DIR", str(data_root))),
        "warehouse": WarehouseResource(url=_from_env("RETAIL_WAREHOUSE_URL",
                                                     settings.warehouse_url(data_root))),
        "io_manager": ParquetIOManagerResource(base_path=_from_env("RETAIL_IO_BASE",
                                                                   settings.io_base(data_root))),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
