"""Model registry: versioned, hashed, signed model files under one root folder.

Layout under ``root`` (the pipeline passes ``DataLayout.models``)::

    index.json            every version (name, file, sha256, metadata) + latest per name,
                          signed with an HMAC
    <name>/<version>.pkl  the pickled model
    <name>/<version>.json its metadata, for people (the index is authoritative)

Why the signature: pickle runs code when loading, so loading a file the registry did not
write is arbitrary code execution. ``load`` reads the file's bytes once, checks their
sha256 against the one recorded in the index, checks the index's HMAC, and only then
unpickles those same bytes. A tampered or foreign file, a hand-edited, unsigned or
differently signed index, or a file without an index entry raises
``RegistryIntegrityError`` and is never unpickled.

The key never lives beside the index (someone who can write the models folder could
otherwise forge both): it is ``RETAIL_MODEL_REGISTRY_KEY``, or the file
``RETAIL_MODEL_REGISTRY_KEY_FILE`` (default ``$DAGSTER_HOME/registry.key``, created on first
use with mode 0600), and a key file inside the data folder is refused. ``rotate_key``
re-signs the index after checking it against the old key.

Writes go to a temporary file and ``os.replace`` (atomic), and index updates hold an
exclusive ``fcntl`` lock, so two runs refreshing models at once cannot corrupt the index.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import pickle
import platform
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd

from retail_pipeline.platform import atomic, settings

_LIBRARIES = ("numpy", "pandas", "scikit-learn", "prophet", "statsmodels")


class RegistryError(Exception):
    pass


class RegistryIntegrityError(RegistryError):
    """A model file or the index does not match what the registry wrote."""


class UnknownModelError(RegistryError, KeyError):
    pass


@dataclass(frozen=True)
class ModelRecord:
    version: str
    name: str
    model_type: str
    file: str
    sha256: str
    created_at: str
    features: list[str] = field(default_factory=list)
    training_window: list[str] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    data_fingerprint: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            out[lib] = importlib_metadata.version(lib)
    return out


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """Stable sha256 of a frame's content (row order and column names included)."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


class ModelRegistry:
    def __init__(self, root: Path | str, key: bytes | None = None):
        self.root = Path(root)
        self._explicit_key = key

    # -- paths and locking -------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    @contextlib.contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _key(self) -> bytes:
        if self._explicit_key:
            return self._explicit_key
        env = settings.registry_key_env()
        if env:
            return env.encode()
        return load_or_create_key_file(settings.registry_key_file(), forbidden=self.root)

    # -- index ---------------------------------------------------------------------------
    def _sign(self, body: dict) -> str:
        payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(self._key(), payload, hashlib.sha256).hexdigest()

    def _read_index(self) -> dict:
        if not self.index_path.exists():
            return {"versions": {}, "latest": {}}
        return self._verified(self._sign)

    def _verified(self, sign) -> dict:
        try:
            document = json.loads(self.index_path.read_text())
        except ValueError as exc:
            raise RegistryIntegrityError(f"model index {self.index_path} is unreadable") from exc
        if not isinstance(document, dict) or "body" not in document or not document.get("hmac"):
            raise RegistryIntegrityError(
                f"model index {self.index_path} is not signed; refusing to load any model "
                "from it (delete the models folder to start a new registry)")
        body, signature = document["body"], str(document["hmac"])
        if not isinstance(body, dict) or not hmac.compare_digest(signature, sign(body)):
            raise RegistryIntegrityError(
                f"model index {self.index_path} was modified outside the registry or signed "
                "with another key (signature mismatch); refusing to trust it. If the key was "
                "changed on purpose, run `retail-pipeline models rotate-key --old-key-file ...`")
        return body

    def _write_index(self, body: dict) -> None:
        atomic.write_bytes(self.index_path, json.dumps(
            {"body": body, "hmac": self._sign(body)}, indent=1, sort_keys=True).encode())

    def rotate_key(self, old_key: bytes) -> int:
        """Re-sign the index with the current key after verifying it with ``old_key``."""
        def old_sign(body: dict) -> str:
            payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            return hmac.new(old_key, payload, hashlib.sha256).hexdigest()

        with self._locked():
            if not self.index_path.exists():
                return 0
            body = self._verified(old_sign)
            self._write_index(body)
            return len(body["versions"])

    # -- public API ----------------------------------------------------------------------
    def save(self, name: str, model: Any, *, model_type: str | None = None,
             features: list[str] | None = None, training_window: list[str] | None = None,
             metrics: dict[str, float] | None = None, data_fingerprint: str = "",
             params: dict[str, Any] | None = None) -> ModelRecord:
        """Pickle ``model`` as a new version of ``name`` and make it the latest."""
        _check_name(name)
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        sha = hashlib.sha256(blob).hexdigest()
        now = datetime.now(UTC)
        version = f"{name}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        record = ModelRecord(
            version=version, name=name, model_type=model_type or type(model).__name__,
            file=f"{name}/{version}.pkl", sha256=sha, created_at=now.isoformat(),
            features=list(features or []),
            training_window=list(training_window) if training_window else None,
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            data_fingerprint=data_fingerprint, params=_jsonable(params or {}),
            libraries=library_versions(), size_bytes=len(blob))
        with self._locked():
            body = self._read_index()
            atomic.write_bytes(self.root / record.file, blob)
            atomic.write_bytes((self.root / record.file).with_suffix(".json"),
                          json.dumps(asdict(record), indent=2).encode())
            body["versions"][version] = asdict(record)
            body["latest"][name] = version
            self._write_index(body)
        return record

    def records(self) -> list[ModelRecord]:
        body = self._read_index()
        return sorted((ModelRecord(**v) for v in body["versions"].values()),
                      key=lambda r: (r.name, r.created_at))

    def list(self) -> pd.DataFrame:
        """One row per version: version, name, model_type, created_at, latest, metrics..."""
        body = self._read_index()
        latest = set(body["latest"].values())
        rows = [{"version": r.version, "name": r.name, "model_type": r.model_type,
                 "created_at": r.created_at, "latest": r.version in latest,
                 "training_window": " .. ".join(r.training_window or []),
                 "size_bytes": r.size_bytes, **{f"metric_{k}": v for k, v in r.metrics.items()}}
                for r in self.records()]
        columns = ["version", "name", "model_type", "created_at", "latest", "training_window",
                   "size_bytes"]
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)

    def record(self, version_or_name: str) -> ModelRecord:
        """The record of a version id, or of the latest version of a model name."""
        body = self._read_index()
        version = body["latest"].get(version_or_name, version_or_name)
        if version not in body["versions"]:
            raise UnknownModelError(f"no model version or name {version_or_name!r} in registry")
        return ModelRecord(**body["versions"][version])

    def latest(self, name: str) -> ModelRecord | None:
        body = self._read_index()
        version = body["latest"].get(name)
        return ModelRecord(**body["versions"][version]) if version else None

    def load(self, version_or_name: str) -> Any:
        """Unpickle a version after verifying index signature and file sha256."""
        record = self.record(version_or_name)
        path = (self.root / record.file).resolve()
        if self.root.resolve() not in path.parents:
            raise RegistryIntegrityError(f"model file {record.file!r} lies outside the registry")
        try:
            blob = path.read_bytes()
        except FileNotFoundError as exc:
            raise RegistryIntegrityError(f"model file {path} is missing") from exc
        actual = hashlib.sha256(blob).hexdigest()
        if not hmac.compare_digest(actual, record.sha256):
            raise RegistryIntegrityError(
                f"model file {path} does not match the sha256 recorded when it was saved "
                f"(expected {record.sha256[:12]}..., found {actual[:12]}...); it was modified "
                "or replaced and will not be loaded")
        return pickle.loads(blob)  # noqa: S301 - bytes verified against the signed index

    def delete(self, version: str) -> ModelRecord:
        """Remove one version; the latest pointer falls back to the newest remaining one."""
        with self._locked():
            body = self._read_index()
            if version not in body["versions"]:
                raise UnknownModelError(f"no model version {version!r} in registry")
            record = ModelRecord(**body["versions"].pop(version))
            for suffix in (".pkl", ".json"):
                with contextlib.suppress(FileNotFoundError):
                    (self.root / record.file).with_suffix(suffix).unlink()
            remaining = sorted((v for v in body["versions"].values()
                                if v["name"] == record.name), key=lambda v: v["created_at"])
            if remaining:
                body["latest"][record.name] = remaining[-1]["version"]
            else:
                body["latest"].pop(record.name, None)
            self._write_index(body)
        return record

    def clear(self) -> int:
        """Delete every version; returns how many there were. The key is kept."""
        with self._locked():
            body = self._read_index()
            count = len(body["versions"])
            for child in self.root.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
            self._write_index({"versions": {}, "latest": {}})
        return count


def load_or_create_key_file(path: Path, forbidden: Path | None = None) -> bytes:
    """The key in ``path``; a new random one (mode 0600) when the file does not exist.

    Refuses a key file inside the data folder or inside ``forbidden`` (the registry).
    """
    path = Path(path).resolve()
    for folder in filter(None, (settings.data_dir(), forbidden and Path(forbidden).resolve())):
        if folder == path.parent or folder in path.parents:
            raise RegistryError(
                f"the registry key file {path} lies inside {folder}: anyone who can write the "
                "data could forge the index. Set RETAIL_MODEL_REGISTRY_KEY_FILE to a path "
                "outside RETAIL_DATA_DIR (default: $DAGSTER_HOME/registry.key)")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    key = path.read_text().strip().encode()
    if not key:
        raise RegistryError(f"the registry key file {path} is empty")
    return key


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"invalid model name {name!r}: no slashes, not starting with '.'")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
