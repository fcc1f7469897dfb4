"""The ledger of ingested content: why the same file is never counted twice.

Uploads are identified by the sha256 of their bytes, not by their name, so a file that is
dropped again (or under another name) is recognised. The ledger is one small JSON file
under ``store/`` rewritten atomically; its entry is written only after the consolidated
tables are, so an entry always means "fully applied".
"""

from __future__ import annotations

import json
from pathlib import Path

from retail_pipeline.platform import atomic

LEDGER_FILE = "ledger.json"
UPLOAD_ID_LENGTH = 16


def upload_id(sha256: str) -> str:
    """Short id of an upload (and its Dagster partition key): the hash's first 16 hex digits."""
    return sha256[:UPLOAD_ID_LENGTH]


class Ledger:
    def __init__(self, store_dir: Path):
        self.path = Path(store_dir) / LEDGER_FILE

    def entries(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def get(self, sha256: str) -> dict | None:
        return self.entries().get(sha256)

    def upload_ids(self) -> set[str]:
        return {upload_id(sha) for sha in self.entries()}

    def record(self, sha256: str, entry: dict) -> None:
        entries = self.entries()
        entries[sha256] = entry
        atomic.write_json(self.path, entries)
