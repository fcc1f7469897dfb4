"""`retail-pipeline check | ingest | backups`: the upload commands, same code as the sensor.

``check`` reads and validates a file without writing anything and exits 1 when the file
would be rejected (a file with a few bad rows would be accepted without them: "partial"); ``ingest`` takes files now (or every complete file in incoming/ with
``--pending``) through the same ``ingest_file`` the Dagster asset uses, printing each
result as soon as it is known (a file that vanishes, is still being written or fails is
reported and the others go on; ``--strict``: any bad row rejects the whole file); ``backups`` lists and restores the snapshots taken before
each ingestion.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from retail_pipeline.contract import ContractError, by_rule_lines
from retail_pipeline.contract.validation import count_by_rule
from retail_pipeline.ingest import cleanup
from retail_pipeline.ingest.backups import (
    DEFAULT_KEEP,
    BackupNotFoundError,
    list_backups,
    restore_backup,
)
from retail_pipeline.ingest.ingest import (
    FAILED,
    PARTIAL,
    REJECTED,
    IngestResult,
    check_file,
    dropped_text,
    failed_result,
    ingest_file,
    iter_pending,
    resolve_mapping,
)
from retail_pipeline.platform.layout import DataLayout

console = Console(highlight=False)

MAPPING_HELP = "Column-mapping YAML for exports that are not a known format."
STRICT_HELP = ("All or nothing: reject a file with any bad row (default: a file whose bad rows are at most "
               "RETAIL_MAX_BAD_ROW_SHARE of its rows is accepted without them; see also RETAIL_STRICT_UPLOADS).")
StrictOption = Annotated[bool, typer.Option("--strict", help=STRICT_HELP)]
MappingOption = Annotated[Path | None, typer.Option("--mapping", "-m", exists=True, dir_okay=False,
                                                    help=MAPPING_HELP)]


def _problems(problems, total: int, by_rule=None) -> None:
    by_rule = count_by_rule(problems) if by_rule is None else by_rule
    console.print("per rule:")
    for line in by_rule_lines(by_rule):
        console.print(f"  * {line}", markup=False)
    console.print("row by row:")
    for problem in problems:
        console.print(f"  - {problem}", markup=False)
    if total > len(problems):
        console.print(f"  ... and {total - len(problems)} more")


def _note(line: str) -> None:
    console.print(f"[dim]cleanup[/dim] {line}", highlight=False, soft_wrap=True, markup=False)


def _each(files: list[Path], layout: DataLayout, mapping, keep_backups: int, strict: bool = False):
    for file in files:
        try:
            yield ingest_file(file, layout, mapping, keep_backups, strict=strict)
        except Exception as exc:  # report it, go on with the next file
            yield failed_result(file, exc)


def _report(result: IngestResult) -> str:
    """Print one result at once (what is printed stays, whatever happens to later files)."""
    colour = {"accepted": "green", "duplicate": "yellow", "skipped": "yellow",
              PARTIAL: "yellow"}.get(result.status, "red")
    console.print(f"[{colour}]{result.status}[/{colour}] ", end="")
    console.print(result.summary, markup=False, soft_wrap=True)
    if result.status == PARTIAL:
        console.print(f"  accepted {result.accepted_rows:,} rows, quarantined {result.quarantined_rows:,} rows; "
                      f"per rule:", markup=False)
        for line in by_rule_lines(result.by_rule):
            console.print(f"  * {line}", markup=False)
    if result.rejected_rows_path is not None:
        console.print(f"  rejected rows: {result.rejected_rows_path}", markup=False, soft_wrap=True)
    if result.status == REJECTED and result.error_path is not None:
        console.print(f"  reasons: {result.error_path}", markup=False, soft_wrap=True)
    for most in result.replaced_most:
        console.print(f"  [red]WARNING[/red]: replaced {most['rows']:,} of the {most['of']:,} {most['entity']} "
                      f"rows of earlier upload {most['upload_id']} ({most.get('file') or '?'})", soft_wrap=True)
    return result.status


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file to check.")],
        mapping: MappingOption = None,
        strict: StrictOption = False,
    ) -> None:
        """Validate FILE exactly as ingestion would, without writing anything."""
        try:
            result = check_file(file, mapping, strict=strict)
        except ContractError as exc:
            console.print(f"[red]the mapping file is not valid[/red] ({exc.total} problem(s)):")
            _problems(exc.problems, exc.total, exc.by_rule)
            raise typer.Exit(2) from None
        console.print(f"file:    {result.file}", markup=False)
        console.print(f"upload:  {result.upload_id} (sha256 {result.sha256})")
        console.print(f"format:  {result.format or 'not recognised'}", markup=False)
        console.print(f"entity:  {result.entity or '-'}")
        for entity, rows in result.rows.items():
            console.print(f"rows:    {rows:,} {entity}")
        if dropped_text(result.dropped):
            console.print(f"dropped: {dropped_text(result.dropped)}", markup=False)
        if result.partial:
            console.print(f"[yellow]PARTIAL[/yellow]: the file would be accepted without {result.quarantined_rows:,} "
                          f"of its {result.source_rows:,} rows ({result.total_problems} problem(s)):")
            _problems(result.problems, result.total_problems, result.by_rule)
            return
        if result.accepted:
            console.print("[green]OK: the file would be accepted[/green]")
            return
        if result.reason:
            console.print(result.reason, markup=False)
        console.print(f"[red]REJECTED[/red]: {result.total_problems} problem(s):")
        _problems(result.problems, result.total_problems, result.by_rule)
        raise typer.Exit(1)

    @app.command()
    def ingest(
        files: Annotated[list[Path] | None, typer.Argument(exists=True, dir_okay=False,
                                                           help="Files to ingest now.")] = None,
        pending: Annotated[bool, typer.Option("--pending", help="Ingest every complete file in incoming/.")] = False,
        mapping: MappingOption = None,
        keep_backups: Annotated[int, typer.Option(help="How many backups to keep.")] = DEFAULT_KEEP,
        settle: Annotated[float, typer.Option(help="--pending: seconds a file must stay unchanged.")] = 2.0,
        strict: StrictOption = False,
    ) -> None:
        """Ingest FILE... (or --pending) into RETAIL_DATA_DIR; exit 1 if any file was rejected."""
        if not files and not pending:
            console.print("give one or more FILEs, or --pending")
            raise typer.Exit(2)
        layout = DataLayout.from_env().ensure()
        try:
            mapping = resolve_mapping(mapping)
        except ContractError as exc:
            console.print(f"[red]the mapping file is not valid[/red] ({exc.total} problem(s)):")
            _problems(exc.problems, exc.total, exc.by_rule)
            raise typer.Exit(2) from None
        statuses = []
        if files:
            cleanup.clean(layout, log=_note)
        for result in _each(files or [], layout, mapping, keep_backups, strict):
            statuses.append(_report(result))
        if pending:
            for result in iter_pending(layout, mapping, keep_backups, settle, log=_note, strict=strict):
                statuses.append(_report(result))
        if not statuses:
            console.print(f"nothing to ingest in {layout.incoming}", markup=False)
        if REJECTED in statuses or FAILED in statuses:
            raise typer.Exit(1)

    backups_app = typer.Typer(help="Snapshots of the consolidated tables taken before each ingestion.",
                              no_args_is_help=True)
    app.add_typer(backups_app, name="backups")

    @backups_app.command("list")
    def list_() -> None:
        """List backups, newest last."""
        layout = DataLayout.from_env()
        found = list_backups(layout)
        if not found:
            console.print(f"no backups in {layout.backups}", markup=False)
            return
        for backup in found:
            tables = ", ".join(f"{e}: {n:,} rows" for e, n in backup.tables.items()) or "no tables"
            console.print(f"{backup.id}  {backup.created_at[:19]}  {backup.reason}  ({tables})",
                          markup=False, soft_wrap=True)

    @backups_app.command("restore")
    def restore(backup_id: Annotated[str, typer.Argument(metavar="ID", help="A backup id from `backups list`.")],
                keep_backups: Annotated[int, typer.Option(help="How many backups to keep.")] = DEFAULT_KEEP) -> None:
        """Put the consolidated tables (and the ledger) back as they were in backup ID."""
        layout = DataLayout.from_env()
        try:
            backup = restore_backup(layout, backup_id, keep=keep_backups)
        except BackupNotFoundError as exc:
            console.print(str(exc), markup=False)
            raise typer.Exit(1) from None
        console.print(f"restored {backup.id} ({backup.reason}); the state before the restore was "
                      "backed up too", markup=False)
