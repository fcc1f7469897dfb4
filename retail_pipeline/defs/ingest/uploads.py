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

A rejected upload fails its run (red in the runs list, the partition shows as failed; the
reasons are in the failure's metadata and in ``quarantine/<file>.error.json``) while nothing
stored changes. An accepted upload reports its checks: ``accepted_whole`` (WARN when rows were
left out: the upload is visibly partial), ``replaced_earlier_upload`` (ERROR when it replaced
more than half the rows of an earlier upload) and ``known_shops_and_products`` (WARN when most
of its shop or product ids match no shop or product known before it).
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from retail_pipeline.contract import by_rule_lines
from retail_pipeline.defs.automation import WRITES_TAG, refresh_all
from retail_pipeline.defs.helpers import ERROR, WARN
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest import cleanup, sensor_plan
from retail_pipeline.ingest.incoming import candidate_files, refuse_entry
from retail_pipeline.ingest.ingest import (
    PARTIAL,
    REJECTED,
    REPLACED_MOST,
    SKIPPED,
    IngestResult,
    ingest_file,
    reference_report,
    replaced_text,
)
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


ACCEPTED_WHOLE, REPLACED_EARLIER, KNOWN_IDS = "accepted_whole", "replaced_earlier_upload", "known_shops_and_products"
UNKNOWN_SHARE = 0.5  # known_shops_and_products warns when more of an upload's distinct ids are unknown

UPLOAD_CHECKS = [
    dg.AssetCheckSpec(ACCEPTED_WHOLE, asset="upload",
                      description="Every row of the upload was accepted. Fails (WARN) when rows that broke "
                                  "the contract were left out (at most RETAIL_MAX_BAD_ROW_SHARE of them; "
                                  "listed in quarantine/<file>.rejected.csv): the upload is partial."),
    dg.AssetCheckSpec(REPLACED_EARLIER, asset="upload",
                      description=f"The upload did not replace more than {REPLACED_MOST:.0%} of the rows of "
                                  "an earlier upload (same keys again: usually the same export sent twice "
                                  "under a new form). Fails with ERROR severity."),
    dg.AssetCheckSpec(KNOWN_IDS, asset="upload",
                      description=f"At most {UNKNOWN_SHARE:.0%} of the upload's distinct shop ids and of its "
                                  "product ids match no shop or product known before it (dimension tables "
                                  "and earlier sales); fails (WARN) with counts and examples otherwise, e.g. "
                                  "a file from another system whose ids mean something else."),
]


def _passed(note: str) -> list[dg.AssetCheckResult]:
    return [dg.AssetCheckResult(check_name=spec.name, passed=True, metadata={"note": note})
            for spec in UPLOAD_CHECKS]


def _already_ingested(layout, key: str) -> dg.MaterializeResult:
    """The file is gone from incoming/ (another run took it): fine if its content is in the ledger."""
    entry = next((e for sha, e in Ledger(layout.store).entries().items() if sha.startswith(key)), None)
    if entry is None:
        raise dg.Failure(f"no file for upload {key}: not in {layout.incoming} and not in the ledger")
    return dg.MaterializeResult(metadata={"status": "duplicate", "accepted": True,
                                          "file": entry["file"], "entity": entry.get("entity") or "",
                                          "format": entry.get("format") or "",
                                          "rows": sum(entry.get("rows", {}).values())},
                                check_results=_passed("already ingested: checked by the run that applied it"))


def _problem_metadata(result: IngestResult) -> dict:
    return {
        "problems_by_rule": dg.MetadataValue.json({kind: rc.as_dict() for kind, rc in result.by_rule.items()}),
        "problems": dg.MetadataValue.md("\n".join([f"- **{line}**" for line in by_rule_lines(result.by_rule)]
                                                  + [f"- {p}" for p in result.problems])),
        "total_problems": result.total_problems,
    }


def upload_checks(layout, result: IngestResult) -> list[dg.AssetCheckResult]:
    """The checks of an applied upload (see the module docstring)."""
    if not result.changed_tables:  # a duplicate: nothing changed now
        return _passed(f"{result.status}: nothing changed")
    partial = dg.AssetCheckResult(
        check_name=ACCEPTED_WHOLE, passed=result.status != PARTIAL, severity=WARN,
        metadata={"accepted_rows": result.accepted_rows, "quarantined_rows": result.quarantined_rows,
                  **({"rejected_rows_csv": dg.MetadataValue.path(str(result.rejected_rows_path))}
                     if result.rejected_rows_path else {}),
                  **(_problem_metadata(result) if result.quarantined_rows else {})})
    most = result.replaced_most
    replaced = dg.AssetCheckResult(
        check_name=REPLACED_EARLIER, passed=not most, severity=ERROR,
        metadata={"replaced_rows": result.replaced_rows, "replaced": dg.MetadataValue.json(result.replaced),
                  "replaced_most": dg.MetadataValue.json(most),
                  **({"summary": replaced_text(result.replaced)} if result.replaced_rows else {})})
    references = reference_report(layout, result)
    unknown = {c: r for c, r in references.items() if r["ids"] and r["unknown_ids"] > UNKNOWN_SHARE * r["ids"]}
    known = dg.AssetCheckResult(
        check_name=KNOWN_IDS, passed=not unknown, severity=WARN,
        metadata={**{f"unknown_{c}s": r["unknown_ids"] for c, r in references.items()},
                  **{f"distinct_{c}s": r["ids"] for c, r in references.items()},
                  **{f"rows_with_unknown_{c}": r["unknown_rows"] for c, r in references.items()},
                  "examples": dg.MetadataValue.json({c: r["examples"] for c, r in references.items()}),
                  **({} if references else {"note": "nothing to compare: no shop or product known before "
                                                    "this upload, or it holds no shop or product ids"})})
    return [partial, replaced, known]


@dg.asset(
    key="upload",
    partitions_def=uploads,
    group_name="uploads",
    kinds={"file"},
    description="One uploaded file (partition = first 16 hex digits of its sha256), validated and "
                "merged into the consolidated tables under store/ (without its few bad rows, listed in "
                "quarantine/<file>.rejected.csv: a partial upload), or quarantined with its reasons (a failed run).",
    metadata={"partition_key": "sha256 prefix of the file's bytes", "source": "RETAIL_DATA_DIR/incoming/"},
    check_specs=UPLOAD_CHECKS,
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
    loud = result.status in (REJECTED, PARTIAL) or result.replaced_most
    (context.log.warning if loud else context.log.info)(result.summary)
    moved = result.archive_path or result.quarantine_path
    metadata = {
        "status": result.status,
        "accepted": result.accepted,
        "file": result.file,
        "entity": result.entity or "",
        "format": result.format or "",
        "rows": sum(result.rows.values()),
        "rows_by_entity": dg.MetadataValue.json(result.rows),
        "quarantined_rows": result.quarantined_rows,
        "replaced_rows": result.replaced_rows,
        "sha256": result.sha256,
        "summary": result.summary,
    }
    if moved is not None:
        metadata["archive_path" if result.archive_path else "quarantine_path"] = dg.MetadataValue.path(str(moved))
    if result.note:
        metadata["note"] = result.note
    if result.total_problems:
        metadata.update(_problem_metadata(result))
    if result.rejected_rows_path is not None:
        metadata["rejected_rows_csv"] = dg.MetadataValue.path(str(result.rejected_rows_path))
    if result.status == REJECTED:
        if result.error_path is not None:
            metadata["error_json"] = dg.MetadataValue.path(str(result.error_path))
        # a failed run: red in the runs list and on the partition; nothing stored changed
        raise dg.Failure(description=result.summary, metadata=metadata)
    if result.backup_id:
        metadata["backup"] = result.backup_id
    return dg.MaterializeResult(metadata=metadata, check_results=upload_checks(layout, result))


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
