"""The file-arrival sensor, the upload asset and the refresh trigger, on a temporary folder."""

import hashlib
import json
import os
import time

import dagster as dg
import pytest

from retail_pipeline.defs.ingest.uploads import (
    TABLES_CHANGED_TAG,
    incoming_files_sensor,
    ingest_upload_job,
    refresh_after_upload_sensor,
    upload,
    uploads,
)
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ingest import ingest_file
from retail_pipeline.ingest.sensor_plan import DEFAULT_CAP
from retail_pipeline.ingest.store import TableStore
from retail_pipeline.platform.layout import DataLayout

from .helpers import GOOD_TX, TX_ROWS, drop, tx_csv


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def data(tmp_path) -> DataLayout:
    return DataLayout(tmp_path / "data").ensure()


def after_run(instance, run_id):
    """Evaluate the refresh sensor as Dagster would when ``run_id`` succeeded."""
    [record] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
    context = dg.build_run_status_sensor_context(
        sensor_name=refresh_after_upload_sensor.name, dagster_event=record.dagster_event,
        dagster_instance=instance, dagster_run=instance.get_run_by_id(run_id))
    return refresh_after_upload_sensor(context)


def tick(instance, data, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"data_dir": DataDirResource(root=str(data.root))})
    return incoming_files_sensor(context)


def key_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def test_new_file_gives_one_request_once_it_is_stable(instance, data):
    path = drop(data, "sales.csv", GOOD_TX)
    first = tick(instance, data)
    assert first.run_requests == []
    assert json.loads(first.cursor) == {"sales.csv": [len(GOOD_TX), path.stat().st_mtime_ns]}

    second = tick(instance, data, first.cursor)
    [request] = second.run_requests
    assert request.partition_key == key_of(GOOD_TX)
    assert request.run_config == {"ops": {"upload": {"config": {"path": str(path)}}}}
    [add] = second.dynamic_partitions_requests
    assert add.partitions_def_name == "uploads" and list(add.partition_keys) == [key_of(GOOD_TX)]
    assert json.loads(second.cursor) == {}


def test_content_already_ingested_gives_no_request(instance, data):
    ingest_file(drop(data, "sales.csv", GOOD_TX), data)
    drop(data, "sales again.csv", GOOD_TX)
    first = tick(instance, data)
    second = tick(instance, data, first.cursor)
    assert first.run_requests == [] and second.run_requests == []
    assert json.loads(second.cursor)["sales again.csv"][2] == key_of(GOOD_TX)  # hashed once


def test_same_content_twice_in_one_tick_is_requested_once(instance, data):
    drop(data, "a.csv", GOOD_TX)
    drop(data, "b.csv", GOOD_TX)
    result = tick(instance, data, tick(instance, data).cursor)
    assert [r.partition_key for r in result.run_requests] == [key_of(GOOD_TX)]


def test_growing_file_waits_until_it_stops_changing(instance, data):
    path = drop(data, "big.csv", GOOD_TX[:40])
    cursor = tick(instance, data).cursor
    with open(path, "ab") as handle:
        handle.write(GOOD_TX[40:90])
    grown = tick(instance, data, cursor)
    assert grown.run_requests == []
    with open(path, "ab") as handle:
        handle.write(GOOD_TX[90:])
    still = tick(instance, data, grown.cursor)
    assert still.run_requests == []
    done = tick(instance, data, still.cursor)
    assert [r.partition_key for r in done.run_requests] == [key_of(GOOD_TX)]


def test_many_files_are_batched_within_the_cap(instance, data):
    contents = {f"f{i:02}.csv": tx_csv(f"T{i},C1,P1,S1,1,2.00,2024-01-01,cash") for i in range(25)}
    for i, (name, content) in enumerate(contents.items()):
        path = drop(data, name, content)
        os.utime(path, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))
    # untouched for years, but never taken at first sight; then never more than the cap per tick
    seen = tick(instance, data)
    assert seen.run_requests == [] and len(json.loads(seen.cursor)) == 25
    first = tick(instance, data, seen.cursor)
    assert [r.partition_key for r in first.run_requests] == [key_of(contents[f"f{i:02}.csv"]) for i in range(10)]
    assert len(first.run_requests) == DEFAULT_CAP
    assert len(json.loads(first.cursor)) == 15  # the rest wait, still tracked
    for i in range(10):  # what the runs do: move the requested files out of incoming/
        (data.incoming / f"f{i:02}.csv").unlink()
    second = tick(instance, data, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [key_of(contents[f"f{i:02}.csv"]) for i in range(10, 20)]


def _set_mtime(path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _run(instance, data, request) -> dict:
    instance.add_dynamic_partitions(uploads.name, [request.partition_key])
    result = dg.materialize([upload], partition_key=request.partition_key, instance=instance,
                            resources={"data_dir": DataDirResource(root=str(data.root))},
                            run_config=request.run_config)
    assert result.success
    return result.get_asset_materialization_events()[0].materialization.metadata


def test_a_file_appended_to_after_12_s_of_silence_is_taken_only_whole(instance, data):
    """A slow copy pauses for 12 s (longer than the old 10 s quiet period), then goes on."""
    half = GOOD_TX[:70]  # the header and part of the first row
    path = drop(data, "slow copy.csv", half)
    silent_since = time.time_ns() - 12_000_000_000  # last byte written 12 s ago
    _set_mtime(path, silent_since)
    with open(path, "ab") as writer:  # the copying process still holds the file open
        first = tick(instance, data)
        assert first.run_requests == []  # never taken at first sight, however quiet
        second = tick(instance, data, first.cursor)  # unchanged since the last tick ...
        assert second.run_requests == []  # ... but open for writing: not complete
        writer.write(GOOD_TX[70:])  # the copy resumes and finishes
    _set_mtime(path, silent_since + 13_000_000_000)
    grown = tick(instance, data, second.cursor)
    assert grown.run_requests == []  # changed since the previous tick
    [request] = tick(instance, data, grown.cursor).run_requests
    assert request.partition_key == key_of(GOOD_TX)  # the whole file's content
    metadata = _run(instance, data, request)
    assert metadata["status"].value == "accepted" and metadata["rows"].value == len(TX_ROWS)
    assert (data.archive / "slow copy.csv").read_bytes() == GOOD_TX
    assert list(data.incoming.iterdir()) == []


def test_a_done_marker_makes_a_file_ready_at_first_sight(instance, data):
    path = drop(data, "sales.csv", GOOD_TX)
    (data.incoming / "sales.csv.done").write_bytes(b"")
    [request] = tick(instance, data).run_requests
    assert request.partition_key == key_of(GOOD_TX) and request.run_config["ops"]["upload"]["config"]["path"] == str(path)
    _run(instance, data, request)
    assert list(data.incoming.iterdir()) == []  # the file and its marker are gone
    assert (data.archive / "sales.csv").read_bytes() == GOOD_TX


def test_a_file_written_under_a_hidden_name_is_invisible_until_renamed(instance, data):
    hidden = drop(data, ".sales.csv.part", GOOD_TX[:50])
    first = tick(instance, data)
    assert first.run_requests == [] and json.loads(first.cursor) == {}
    with open(hidden, "ab") as handle:
        handle.write(GOOD_TX[50:])
    hidden.rename(data.incoming / "sales.csv")
    second = tick(instance, data, first.cursor)
    third = tick(instance, data, second.cursor)
    assert second.run_requests == [] and [r.partition_key for r in third.run_requests] == [key_of(GOOD_TX)]


def test_a_file_changed_after_it_was_read_is_stored_as_read_and_left_to_be_taken_again(data):
    path = drop(data, "sales.csv", GOOD_TX)
    extra = b"T9,C1,P1,S1,1,1.00,2024-01-09,cash\n"

    def append_after_read(done: str):
        if done == "ledger":  # a writer appends while the run is applying what it read
            with open(path, "ab") as handle:
                handle.write(extra)

    result = ingest_file(path, data, on_step=append_after_read)
    assert result.status == "accepted" and "left in incoming/" in result.note
    assert (data.archive / "sales.csv").read_bytes() == GOOD_TX  # what was read, verified
    assert path.read_bytes() == GOOD_TX + extra  # the original was not removed
    again = ingest_file(path, data)
    assert again.status == "accepted" and not path.exists()
    assert sorted(TableStore(data.store).read("transactions")["transaction_id"]) == ["T1", "T2", "T3", "T9"]


def test_upload_asset_ingests_its_partition(instance, data):
    path = drop(data, "sales.csv", GOOD_TX)
    key = key_of(GOOD_TX)
    instance.add_dynamic_partitions(uploads.name, [key])
    result = dg.materialize(
        [upload], partition_key=key, instance=instance,
        resources={"data_dir": DataDirResource(root=str(data.root))},
        run_config={"ops": {"upload": {"config": {"path": str(path)}}}},
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["status"].value == "accepted" and metadata["rows"].value == 3
    assert metadata["entity"].value == "transactions"
    assert metadata["archive_path"].value == str(data.archive / "sales.csv")
    assert TableStore(data.store).read("transactions")["transaction_id"].tolist() == ["T1", "T2", "T3"]
    assert instance.get_run_by_id(result.run_id).tags[TABLES_CHANGED_TAG] == "true"
    request = after_run(instance, result.run_id)
    assert isinstance(request, dg.RunRequest) and request.run_key == f"refresh-after-{result.run_id}"


def test_upload_asset_finds_its_file_by_content_hash_and_records_rejections(instance, data):
    bad = tx_csv("T1,C1,P1,S1,0,1.0,2024-01-01,cash")
    drop(data, "bad.csv", bad)
    key = key_of(bad)
    instance.add_dynamic_partitions(uploads.name, [key])
    result = dg.materialize([upload], partition_key=key, instance=instance, raise_on_error=False,
                            resources={"data_dir": DataDirResource(root=str(data.root))})
    # a rejected upload is a failed run (red in the runs list), with its reasons
    assert not result.success and result.get_asset_materialization_events() == []
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["status"].value == "rejected" and metadata["accepted"].value is False
    assert "quantity must not be 0" in metadata["problems"].value
    assert (data.quarantine / "bad.csv.error.json").exists()
    assert TABLES_CHANGED_TAG not in instance.get_run_by_id(result.run_id).tags
    assert not any(store.is_file() for store in data.store.glob("*.parquet"))  # nothing stored


def test_definitions_wire_job_sensors_and_refresh():
    from retail_pipeline.defs.automation import refresh_all

    assert ingest_upload_job.name == "ingest_upload_job"
    assert refresh_after_upload_sensor.job_name == refresh_all.name
    assert incoming_files_sensor.minimum_interval_seconds == 30
    assert incoming_files_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    spec = upload.specs_by_key[dg.AssetKey("upload")]
    assert spec.group_name == "uploads" and spec.kinds == {"file"} and spec.description


def test_old_ingested_upload_partitions_are_retired_beyond_the_cap(instance, data, monkeypatch):
    from retail_pipeline.ingest import sensor_plan
    from retail_pipeline.ingest.ledger import Ledger

    keys = [f"{i:016x}" for i in range(1, 7)]
    instance.add_dynamic_partitions(uploads.name, keys)
    ledger = Ledger(data.store)
    for key in keys[:2] + keys[3:5]:  # keys[2] is not ingested yet (its run may still be queued)
        ledger.record(key + "0" * 48, {"rows": {"transactions": 1}, "ingested_at": "2024-01-01T00:00:00+00:00"})
    monkeypatch.setattr(sensor_plan, "MAX_UPLOAD_PARTITIONS", 3)
    result = tick(instance, data)
    [delete] = [r for r in result.dynamic_partitions_requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
    assert list(delete.partition_keys) == [keys[0], keys[1], keys[3]]  # the 3 oldest that are ingested
    monkeypatch.setattr(sensor_plan, "MAX_UPLOAD_PARTITIONS", 10)
    assert tick(instance, data).dynamic_partitions_requests == []
    assert sensor_plan.partitions_to_retire(keys, set(keys), keep=6) == []
