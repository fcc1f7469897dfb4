"""Uploads as Dagster partitions: a sensor notices files, one run ingests each, then refresh.

Thin wiring around :mod:`retail_pipeline.ingest`: every upload is one partition of the
``upload`` asset, keyed by the first 16 hex digits of its content hash (so the same
content is one partition whatever its name, and the partition count grows only with
distinct uploads; beyond 5,000 the oldest ingested ones are retired). ``incoming_files_sensor``
requests at most 10 runs per tick for files that are complete (unchanged between two ticks,
or with a ``<name>.done`` marker, and not open for writing); each tick first removes what
killed runs left (``ingest.cleanup``) and moves entries that are not regular files aside
without opening them. ``refresh_after_upload_sensor`` requests the ``refresh_all`` job
when an upload run changed the consolidated tables.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from retail_pipeline.contract import by_rule_lines
from retail_pipeline.defs.automation import WRITES_TAG, refresh_all
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest import cleanup, sensor_plan
from retail_pipeline.ingest.incoming import candidate_files, refuse_entry
from retail_pipeline.ingest.ingest import REJECTED, SKIPPED, ingest_file
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.ingest.sensor_plan import DEFAULT_CAP, hash_file, plan_tick

TABLES_CHANGED_TAG = "retail/tables_changed"
MAX_FAILED_ATTEMPTS = 3

uploads = dg.DynamicPartitionsDefinition(name="uploads")


class UploadConfig(dg.Config):
    path: str = Field(default="", description="The file to ingest; empty: the file in incoming/ "
                                              "whose content hash starts with the partition key.")
    mapping: str = Field(default="", description="Optional column-mapping YAML for exports that "
                                                 "are not a known format.")


def _find_upload(layout, key: str) -> Path | None:
    for path in candidate_files(layout.incoming):
        if hash_file(path).startswith(key):
            return path
    return None


def _already_ingested(layout, key: str) -> dg.MaterializeResult:
    """The file is gone from incoming/ (another run took it): fine if its content is in the ledger."""
    entry = next((e for sha, e in Ledger(layout.store).entries().items() if sha.startswith(key)), None)
    if entry is None:
        raise dg.Failure(f"no file for upload {key}: not in {layout.incoming} and not in the ledger")
    return dg.MaterializeResult(metadata={"status": "duplicate", "accepted": True,
                                          "file": entry["file"], "entity": entry.get("entity") or "",
                                          "format": entry.get("format") or "",
                                          "rows": sum(entry.get("rows", {}).values())})


@dg.asset(
    key="upload",
    partitions_def=uploads,
    group_name="uploads",
    kinds={"file"},
    description="One uploaded file (partition = first 16 hex digits of its sha256), validated and "
                "merged into the consolidated tables under store/, or quarantined with its reasons.",
    metadata={"partition_key": "sha256 prefix of the file's bytes", "source": "RETAIL_DATA_DIR/incoming/"},
)
def upload(context: dg.AssetExecutionContext, config: UploadConfig,
           data_dir: DataDirResource) -> dg.MaterializeResult:
    layout = data_dir.layout
    key = context.partition_key
    path = Path(config.path) if config.path else _find_upload(layout, key)
    if path is None or not (path.exists() or path.is_symlink()):
        return _already_ingested(layout, key)
    result = ingest_file(path, layout, mapping=config.mapping or None)
    if result.status == SKIPPED:  # vanished between the look and the read
        context.log.info(result.summary)
        return _already_ingested(layout, key)
    if result.sha256 and not result.sha256.startswith(key):
        context.log.warning(f"{path.name} changed after it was detected (now upload {result.upload_id})")
    if result.changed_tables:
        context.instance.add_run_tags(context.run_id, {TABLES_CHANGED_TAG: "true"})
    (context.log.warning if result.status == REJECTED else context.log.info)(result.summary)
    moved = result.archive_path or result.quarantine_path
    metadata = {
        "status": result.status,
        "accepted": result.accepted,
        "file": result.file,
        "entity": result.entity or "",
        "format": result.format or "",
        "rows": sum(result.rows.values()),
        "rows_by_entity": dg.MetadataValue.json(result.rows),
        "sha256": result.sha256,
        "summary": result.summary,
    }
    if moved is not None:
        metadata["archive_path" if result.archive_path else "quarantine_path"] = dg.MetadataValue.path(str(moved))
    if result.note:
        metadata["note"] = result.note
    if result.status == REJECTED:
        metadata["problems_by_rule"] = dg.MetadataValue.json(
            {kind: rc.as_dict() for kind, rc in result.by_rule.items()})
        metadata["problems"] = dg.MetadataValue.md(
            "\n".join([f"- **{line}**" for line in by_rule_lines(result.by_rule)]
                      + [f"- {p}" for p in result.problems]))
        metadata["total_problems"] = result.total_problems
        if result.error_path is not None:
            metadata["error_json"] = dg.MetadataValue.path(str(result.error_path))
    if result.backup_id:
        metadata["backup"] = result.backup_id
    return dg.MaterializeResult(metadata=metadata)


ingest_upload_job = dg.define_asset_job(
    "ingest_upload_job",
    selection=dg.AssetSelection.assets(upload),
    partitions_def=uploads,
    executor_def=dg.in_process_executor,
    tags={WRITES_TAG: "store"},
    description="Ingest one upload (one partition of `upload`). Runs one at a time (tag "
                "retail_pipeline/writes=store, limit 1 in dagster.yaml).",
)


def _skip_reason(context: dg.SensorEvaluationContext, ingested: set[str], partitions: set[str]):
    def reason(key: str) -> str | None:
        if key in ingested:
            return f"content already ingested (upload {key})"
        if key not in partitions:
            return None
        runs = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=ingest_upload_job.name, tags={"dagster/partition": key}),
            limit=MAX_FAILED_ATTEMPTS)
        failed = [r for r in runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
        if runs and len(failed) < len(runs):
            return f"upload {key} already requested (run {runs[0].run_id[:8]}, {runs[0].status.value})"
        if len(failed) >= MAX_FAILED_ATTEMPTS:
            return f"upload {key} failed {len(failed)} times; re-execute it from the UI after fixing the cause"
        return None

    return reason


@dg.sensor(
    name="incoming_files_sensor",
    job=ingest_upload_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Requests one `upload` run per new file in incoming/ once it is complete: its size "
                f"and mtime are unchanged since the previous tick (or a `<name>.done` marker sits "
                f"beside it) and no process has it open for writing; skips content already "
                f"ingested; at most {DEFAULT_CAP} runs per tick. Each tick also removes stale "
                f"temporary files and orphan backups, and moves entries that are not regular "
                f"files (links, pipes, folders) to quarantine/ without opening them.",
)
def incoming_files_sensor(context: dg.SensorEvaluationContext, data_dir: DataDirResource):
    layout = data_dir.layout.ensure()
    cleanup.clean(layout, log=context.log.info)
    existing = context.instance.get_dynamic_partitions(uploads.name)  # oldest first
    partitions = set(existing)
    ingested = Ledger(layout.store).upload_ids()
    plan = plan_tick(layout.incoming, context.cursor, _skip_reason(context, ingested, partitions))
    for refused in plan.refused:
        _, error_path, rule = refuse_entry(refused, layout.quarantine)
        context.log.warning(f"refused {refused.path.name}: {rule} (details: {error_path})")
    for name, pids in plan.busy.items():
        context.log.info(f"waiting for {name}: open for writing by process {', '.join(map(str, pids))}")
    for name, why in plan.skipped.items():
        context.log.info(f"skipping {name}: {why}")
    new_keys = sorted({r.upload_id for r in plan.requests} - partitions)
    requests = [
        dg.RunRequest(
            run_key=f"{r.upload_id}:{r.path.name}:{r.mtime_ns}:{len(partitions)}",
            partition_key=r.upload_id,
            run_config={"ops": {"upload": {"config": {"path": str(r.path)}}}},
            tags={"retail/file": r.path.name},
        )
        for r in plan.requests
    ]
    partition_requests = [uploads.build_add_request(new_keys)] if new_keys else []
    retire = sensor_plan.partitions_to_retire(existing, ingested, sensor_plan.MAX_UPLOAD_PARTITIONS)
    if retire:
        context.log.info(f"retiring {len(retire)} old upload partitions (still in the ledger and archive)")
        partition_requests.append(uploads.build_delete_request(retire))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        cursor=plan.cursor_json(),
    )


@dg.run_status_sensor(
    name="refresh_after_upload_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_upload_job],
    request_job=refresh_all,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="After an upload run that changed the consolidated tables, refresh everything "
                "downstream (unless a refresh is already waiting to start).",
)
def refresh_after_upload_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if run.tags.get(TABLES_CHANGED_TAG) != "true":
        return dg.SkipReason(f"run {run.run_id[:8]} did not change any table")
    waiting = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=refresh_all.name, statuses=[
            dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]),
        limit=1)
    if waiting:
        return dg.SkipReason(f"refresh run {waiting[0].run_id[:8]} has not started yet and will see this upload")
    return dg.RunRequest(run_key=f"refresh-after-{run.run_id}", tags={"retail/after_upload": run.run_id})
