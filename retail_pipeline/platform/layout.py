"""Where everything lives under RETAIL_DATA_DIR.

One object names every folder so that the CLI, the Dagster resources, the tests and the
benchmarks agree on the layout without repeating path strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retail_pipeline.platform import settings

DEFAULT_DATA_DIR = "data"


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def from_env(cls) -> DataLayout:
        return cls(settings.data_dir())

    @property
    def incoming(self) -> Path:
        """Landing folder watched by the file sensor."""
        return self.root / "incoming"

    @property
    def archive(self) -> Path:
        """Every accepted upload, byte for byte."""
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        """Every rejected upload beside its <name>.error.json."""
        return self.root / "quarantine"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def store(self) -> Path:
        """Consolidated current tables, one Parquet file per entity."""
        return self.root / "store"

    @property
    def history(self) -> Path:
        """Every accepted upload as typed Parquet, kept forever."""
        return self.store / "history"

    @property
    def charts(self) -> Path:
        return self.root / "charts"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def io(self) -> Path:
        """Asset outputs handed between steps as Parquet (the default IO manager base path)."""
        return self.root / "io"

    def ensure(self) -> DataLayout:
        for folder in (self.incoming, self.archive, self.quarantine, self.backups,
                       self.store, self.history, self.charts, self.models):
            folder.mkdir(parents=True, exist_ok=True)
        return self
