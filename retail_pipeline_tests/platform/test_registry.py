import hashlib
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from retail_pipeline.forecasting.naive import SeasonalNaive
from retail_pipeline.platform.registry import (
    ModelRegistry,
    RegistryError,
    RegistryIntegrityError,
    UnknownModelError,
    fingerprint_frame,
)


@pytest.fixture()
def history():
    return pd.DataFrame({"series_id": "a", "ds": pd.date_range("2024-01-01", periods=40),
                         "y": np.arange(40, dtype=float) % 7})


def _save(reg, name, history, **kw):
    model = SeasonalNaive("week").fit(history)
    return reg.save(name, model, features=["lag_7"], training_window=["2024-01-01", "2024-02-09"],
                    metrics={"mae": 1.5}, data_fingerprint=fingerprint_frame(history), **kw)


def test_round_trip_metadata_and_latest(tmp_path, history):
    reg = ModelRegistry(tmp_path / "models")
    rec = _save(reg, "total__seasonal_naive", history)
    loaded = reg.load(rec.version)
    pd.testing.assert_frame_equal(loaded.predict(5), SeasonalNaive("week").fit(history).predict(5))
    meta = json.loads((tmp_path / "models" / rec.file).with_suffix(".json").read_text())
    assert meta["model_type"] == "SeasonalNaive" and meta["features"] == ["lag_7"]
    assert meta["training_window"] == ["2024-01-01", "2024-02-09"]
    assert meta["metrics"] == {"mae": 1.5} and "scikit-learn" in meta["libraries"]
    assert meta["data_fingerprint"] == fingerprint_frame(history)
    assert meta["sha256"] == hashlib.sha256((tmp_path / "models" / rec.file).read_bytes()).hexdigest()
    second = _save(reg, "total__seasonal_naive", history)
    assert reg.latest("total__seasonal_naive").version == second.version
    assert reg.load("total__seasonal_naive") is not None  # by name -> latest


def test_list_delete_clear(tmp_path, history):
    reg = ModelRegistry(tmp_path)
    assert reg.list().empty
    a1 = _save(reg, "a", history)
    a2 = _save(reg, "a", history)
    b1 = _save(reg, "b", history)
    listing = reg.list()
    assert set(listing["version"]) == {a1.version, a2.version, b1.version}
    assert listing.set_index("version").loc[a2.version, "latest"]
    assert not listing.set_index("version").loc[a1.version, "latest"]
    reg.delete(a2.version)
    assert reg.latest("a").version == a1.version  # pointer falls back
    assert not (tmp_path / a2.file).exists()
    with pytest.raises(UnknownModelError):
        reg.delete(a2.version)
    assert reg.clear() == 2
    assert reg.list().empty and reg.latest("b") is None
    assert not (tmp_path / b1.file).exists()


def test_tampered_or_foreign_files_are_never_unpickled(tmp_path, history, monkeypatch):
    reg = ModelRegistry(tmp_path)
    rec = _save(reg, "a", history)
    path = tmp_path / rec.file

    class Boom:
        def __reduce__(self):
            return (print, ("this would run on unpickling",))

    path.write_bytes(pickle.dumps(Boom()))
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a))
    with pytest.raises(RegistryIntegrityError, match="sha256"):
        reg.load(rec.version)
    assert calls == []
    # a file dropped into the folder without an index entry is unknown, not loaded
    (tmp_path / "a" / "evil.pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UnknownModelError):
        reg.load("evil")
    assert calls == []


def test_hand_edited_index_is_refused(tmp_path, history):
    reg = ModelRegistry(tmp_path)
    rec = _save(reg, "a", history)
    (tmp_path / "b.pkl").write_bytes(pickle.dumps({"x": 1}))
    doc = json.loads(reg.index_path.read_text())
    doc["body"]["versions"][rec.version]["file"] = "b.pkl"
    doc["body"]["versions"][rec.version]["sha256"] = hashlib.sha256(
        (tmp_path / "b.pkl").read_bytes()).hexdigest()
    reg.index_path.write_text(json.dumps(doc))
    with pytest.raises(RegistryIntegrityError, match="signature"):
        reg.load(rec.version)


def _forge(reg, key: bytes, body: dict) -> None:
    """Write an index signed with ``key``: what an attacker who knows that key could do."""
    import hmac

    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    signature = hmac.new(key, payload, hashlib.sha256).hexdigest()
    reg.index_path.write_text(json.dumps({"body": body, "hmac": signature}))


def test_the_key_never_lives_in_the_data_folder(tmp_path, history, registry_key_outside_data,
                                                monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("RETAIL_DATA_DIR", str(data))
    reg = ModelRegistry(data / "models")
    _save(reg, "a", history)
    assert registry_key_outside_data.exists()
    assert oct(registry_key_outside_data.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in data.rglob("*") if "key" in p.name]
    # a key file configured inside the data folder is refused, not used
    monkeypatch.setenv("RETAIL_MODEL_REGISTRY_KEY_FILE", str(data / "models" / ".registry_key"))
    with pytest.raises(RegistryError, match="inside"):
        ModelRegistry(data / "models").list()


def test_a_forged_index_is_refused(tmp_path, history):
    """Old layout: the key sat beside the index, so whoever could write the folder could sign.
    Now an index signed with any key but the configured one is refused, never loaded."""
    reg = ModelRegistry(tmp_path / "models")
    rec = _save(reg, "a", history)
    evil = tmp_path / "models" / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": 1}))
    body = json.loads(reg.index_path.read_text())["body"]
    body["versions"][rec.version].update(file="evil.pkl",
                                         sha256=hashlib.sha256(evil.read_bytes()).hexdigest())
    planted_key = b"0" * 64
    (tmp_path / "models" / ".registry_key").write_bytes(planted_key)  # what the old code trusted
    _forge(reg, planted_key, body)
    with pytest.raises(RegistryIntegrityError, match="another key"):
        reg.load(rec.version)
    # an unsigned index is refused as well
    reg.index_path.write_text(json.dumps({"body": body}))
    with pytest.raises(RegistryIntegrityError, match="not signed"):
        reg.load(rec.version)


def test_key_rotation_re_signs_the_index(tmp_path, history, monkeypatch):
    old = tmp_path / "old.key"
    old.write_text("a" * 64)
    monkeypatch.setenv("RETAIL_MODEL_REGISTRY_KEY_FILE", str(old))
    reg = ModelRegistry(tmp_path / "models")
    rec = _save(reg, "a", history)
    new = tmp_path / "new.key"
    new.write_text("b" * 64)
    monkeypatch.setenv("RETAIL_MODEL_REGISTRY_KEY_FILE", str(new))
    with pytest.raises(RegistryIntegrityError):
        reg.load(rec.version)
    with pytest.raises(RegistryIntegrityError):  # the wrong old key does not help
        reg.rotate_key(b"c" * 64)
    assert reg.rotate_key(old.read_text().encode()) == 1
    assert reg.load(rec.version).predict(3) is not None
