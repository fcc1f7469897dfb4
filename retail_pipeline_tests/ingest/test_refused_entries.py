"""Entries of incoming/ that are not regular files are refused by lstat, moved aside
without being opened or followed, and reported without any of their content."""

import json
import logging
import os
import threading

import dagster as dg
from typer.testing import CliRunner

from retail_pipeline.cli import app as cli_app
from retail_pipeline.defs.ingest.uploads import incoming_files_sensor
from retail_pipeline.defs.resources import DataDirResource
from retail_pipeline.ingest.ingest import check_file, ingest_file
from retail_pipeline.ingest.ledger import Ledger
from retail_pipeline.platform.layout import DataLayout

from .helpers import GOOD_TX, drop

SECRET = "SECRET-7d41c0a9e2"
# shaped like the system account file the operator's trial linked to: one header-like line
ACCOUNTS = (f"root:x:0:0:{SECRET}:/root:/bin/bash\n"
            f"daemon:x:1:1:{SECRET}-daemon:/usr/sbin:/usr/sbin/nologin\n").encode()


def _outside_file(tmp_path):
    outside = tmp_path / "outside" / "passwd"
    outside.parent.mkdir()
    outside.write_bytes(ACCOUNTS)
    return outside


def _regular_files_mention_secret(root) -> list[str]:
    """Every regular file under ``root`` (links are not followed) that holds the secret."""
    hits = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    if SECRET.encode() in handle.read():
                        hits.append(path)
    return hits


def _assert_refused_without_content(layout, outside, name, text: str, taken=()) -> None:
    assert SECRET not in text
    assert _regular_files_mention_secret(layout.root) == []
    assert outside.read_bytes() == ACCOUNTS  # the target was not moved or changed
    assert not os.path.lexists(layout.incoming / name)
    moved = layout.quarantine / name
    assert os.path.islink(moved) and os.readlink(moved) == str(outside)  # the link itself, moved
    report = json.loads((layout.quarantine / f"{name}.error.json").read_text())
    assert report["kind"] == "symbolic link" and report["link_target"] == str(outside)
    assert "not a regular file" in report["problems"][0]["rule"]
    assert report["problems"][0]["value"] is None
    assert sorted(e["file"] for e in Ledger(layout.store).entries().values()) == sorted(taken)
    assert sorted(p.name for p in layout.archive.iterdir()) == sorted(taken)


def test_pending_refuses_a_symlink_to_a_file_outside_the_data_folder(tmp_path, monkeypatch, caplog, capfd):
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "data"))
    layout = DataLayout(tmp_path / "data").ensure()
    outside = _outside_file(tmp_path)
    os.symlink(outside, layout.incoming / "accounts.csv")
    drop(layout, "sales.csv", GOOD_TX)  # a real upload beside it is still taken
    caplog.set_level(logging.DEBUG)

    result = CliRunner().invoke(cli_app, ["ingest", "--pending", "--settle", "0"])
    assert result.exit_code == 1  # a refusal counts as a rejection
    assert "rejected accounts.csv was refused" in result.output and "symbolic link" in result.output
    assert "accepted sales.csv" in result.output
    captured = capfd.readouterr()
    _assert_refused_without_content(layout, outside, "accounts.csv",
                                    result.output + caplog.text + captured.out + captured.err,
                                    taken=["sales.csv"])


def test_sensor_moves_a_symlink_aside_without_following_it(tmp_path, caplog, capfd):
    layout = DataLayout(tmp_path / "data").ensure()
    outside = _outside_file(tmp_path)
    os.symlink(outside, layout.incoming / "accounts.csv")
    caplog.set_level(logging.DEBUG)
    with dg.DagsterInstance.ephemeral() as instance:
        resources = {"data_dir": DataDirResource(root=str(layout.root))}
        first = incoming_files_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        second = incoming_files_sensor(dg.build_sensor_context(instance=instance, resources=resources,
                                                               cursor=first.cursor))
    assert first.run_requests == [] and second.run_requests == []
    assert json.loads(first.cursor) == {}
    captured = capfd.readouterr()
    text = caplog.text + captured.out + captured.err
    assert "refused accounts.csv" in text
    _assert_refused_without_content(layout, outside, "accounts.csv", text)


def test_ingest_file_on_a_link_in_incoming_refuses_it(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    outside = _outside_file(tmp_path)
    link = layout.incoming / "accounts.csv"
    os.symlink(outside, link)
    result = ingest_file(link, layout)
    assert result.status == "rejected" and result.quarantine_path == layout.quarantine / "accounts.csv"
    assert SECRET not in result.summary and SECRET not in json.dumps([p.as_dict() for p in result.problems])
    _assert_refused_without_content(layout, outside, "accounts.csv", result.summary)


def test_a_fifo_and_a_folder_are_moved_aside_and_never_block(tmp_path):
    layout = DataLayout(tmp_path / "data").ensure()
    os.mkfifo(layout.incoming / "pipe.csv")
    (layout.incoming / "folder.csv").mkdir()
    (layout.incoming / "folder.csv" / "inner.csv").write_bytes(GOOD_TX)
    results = []
    worker = threading.Thread(target=lambda: results.extend(
        __import__("retail_pipeline.ingest.ingest", fromlist=["x"]).iter_pending(layout, settle_seconds=0)))
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # a reader blocked on the fifo: unblock it before failing
        with open(layout.incoming / "pipe.csv", "wb"):
            pass
        raise AssertionError("ingestion blocked on a named pipe")
    assert sorted((r.file, r.status) for r in results) == [("folder.csv", "rejected"), ("pipe.csv", "rejected")]
    assert list(layout.incoming.iterdir()) == []
    assert os.path.isdir(layout.quarantine / "folder.csv")
    assert (layout.quarantine / "folder.csv" / "inner.csv").read_bytes() == GOOD_TX  # untouched
    kinds = {json.loads(p.read_text())["kind"] for p in layout.quarantine.glob("*.error.json")}
    assert kinds == {"folder", "named pipe (fifo)"}
    assert Ledger(layout.store).entries() == {}


def test_check_refuses_a_fifo_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = check_file(fifo)
    assert not result.accepted and "named pipe (fifo), not a regular file" in result.problems[0].rule


def test_error_reports_do_not_echo_rows_beyond_offending_cells(layout):
    ragged = GOOD_TX + f"T4,{SECRET},P1,S1,1,2.00,2024-01-01,cash,extra,fields\n".encode()
    result = ingest_file(drop(layout, "ragged.csv", ragged), layout)
    assert result.status == "rejected" and "row 5" in result.summary and "has 10 fields" in result.summary
    assert SECRET not in result.error_path.read_text() and SECRET not in result.summary
