"""The file-arrival sensor, the upload asset and the refresh trigger, on a temporary folder."""

import hashlib
import json
import os

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

from .helpers import GOOD_TX, drop, tx_csv


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
    # quiet for long: ready at first sight, but never more than the cap per tick
    first = tick(instance, data)
    assert [r.partition_key for r in first.run_requests] == [key_of(contents[f"f{i:02}.csv"]) for i in range(10)]
    assert len(first.run_requests) == DEFAULT_CAP
    assert len(json.loads(first.cursor)) == 15  # the rest wait, still tracked
    for i in range(10):  # what the runs do: move the requested files out of incoming/
        (data.incoming / f"f{i:02}.csv").unlink()
    second = tick(instance, data, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [key_of(contents[f"f{i:02}.csv"]) for i in range(10, 20)]


def test_a_file_nobody_wrote_to_for_the_quiet_period_is_ready_at_first_sight(instance, data):
    path = drop(data, "synced.csv", GOOD_TX)
    quiet = path.stat().st_mtime_ns - 11_000_000_000  # last written 11 s ago
    os.utime(path, ns=(quiet, quiet))
    [request] = tick(instance, data).run_requests
    assert request.partition_key == key_of(GOOD_TX)


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
    bad = tx_csv("T1,C1,P1,S1,-3,1.0,2024-01-01,cash")
    drop(data, "bad.csv", bad)
    key = key_of(bad)
    instance.add_dynamic_partitions(uploads.name, [key])
    result = dg.materialize([upload], partition_key=key, instance=instance,
                            resources={"data_dir": DataDirResource(root=str(data.root))})
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["status"].value == "rejected" and metadata["accepted"].value is False
    assert "quantity must be greater than 0" in metadata["problems"].value
    assert (data.quarantine / "bad.csv.error.json").exists()
    assert TABLES_CHANGED_TAG not in instance.get_run_by_id(result.run_id).tags
    assert isinstance(after_run(instance, result.run_id), dg.SkipReason)


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
