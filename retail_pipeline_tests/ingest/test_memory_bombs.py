"""Hostile uploads are refused with a clear rule, under 1 GB of peak memory, leaving no
backup, history or ledger entry; the limits come from the settings module."""

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from retail_pipeline.contract import ContractError
from retail_pipeline.ingest.ingest import check_file, ingest_file
from retail_pipeline.ingest.mapping import Mapping

from .helpers import GOOD_TX, TX_HEADER, drop

ROOT = Path(__file__).resolve().parents[2]
PEAK_LIMIT_MB = 1024

BOMBS = {
    # kind: words the rule must contain
    "wide": "the header has 10,008 columns; at most 500 are accepted (RETAIL_MAX_COLUMNS)",
    "zeros": "the file is binary, not text: NUL byte at byte offset 0 after decompression",
    "text": "more than 512 MB of data after decompression",
    "sparse": "the file is 2 GB; at most 512 MB of data are accepted",
    "alias": "YAML anchors and aliases (&name, *name) are not allowed",
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BOMBS))
def test_memory_bomb_is_rejected_under_1_gb_and_leaves_nothing(kind, tmp_path):
    done = subprocess.run([sys.executable, "-m", "retail_pipeline_tests.ingest.bombs", kind,
                           str(tmp_path / "data")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == ("mapping refused" if kind == "alias" else "rejected"), outcome
    assert any(BOMBS[kind] in rule for rule in outcome["rules"]), outcome["rules"]
    assert outcome["peak_mb"] < PEAK_LIMIT_MB, outcome
    assert (outcome["backups"], outcome["history"], outcome["ledger"]) == ([], [], 0)
    if kind != "alias":
        error = json.loads(Path(outcome["error_json"]).read_text())
        assert error["total"] == 1 and error["problems"][0]["value"] is None
        incoming = tmp_path / "data" / "incoming"
        assert list(incoming.iterdir()) == []  # moved aside with its reasons


def test_column_cap_comes_from_the_settings_and_is_checked_on_the_header(layout, monkeypatch):
    monkeypatch.setenv("RETAIL_MAX_COLUMNS", "10")
    wide = GOOD_TX.replace(TX_HEADER.encode(), TX_HEADER.encode() + b",a,b,c")
    wide = b"\n".join(line if i == 0 else line + b",1,2,3" for i, line in enumerate(wide.splitlines())) + b"\n"
    result = ingest_file(drop(layout, "wide.csv", wide), layout)
    assert result.status == "rejected"
    assert [str(p) for p in result.problems] == [
        "wide.csv, row 1: the header has 11 columns; at most 10 are accepted (RETAIL_MAX_COLUMNS)"]
    assert list(layout.backups.iterdir()) == [] and not any(layout.history.rglob("*.parquet"))
    monkeypatch.setenv("RETAIL_MAX_COLUMNS", "11")
    assert check_file(layout.quarantine / "wide.csv").accepted


def test_a_workbook_with_a_too_wide_first_row_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_MAX_COLUMNS", "20")
    book = openpyxl.Workbook()
    book.active.title = "Wide"
    book.active.append([f"c{i}" for i in range(30)])
    book.active.append(list(range(30)))
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "wide.xlsx"
    path.write_bytes(out.getvalue())
    result = check_file(path)
    assert [p.rule for p in result.problems] == [
        "the first row of sheet 'Wide' has 30 columns; at most 20 are accepted (RETAIL_MAX_COLUMNS)"]


def test_decompressed_size_cap_comes_from_the_settings(layout, monkeypatch):
    rows = GOOD_TX * 10  # the same rows ten times: small once compressed
    packed = gzip.compress(rows)
    assert len(packed) < 300 < len(rows)
    monkeypatch.setenv("RETAIL_MAX_UPLOAD_MB", str(300 / 2**20))  # 300 bytes
    result = ingest_file(drop(layout, "small.csv.gz", packed), layout)
    assert result.status == "rejected"
    assert [p.rule for p in result.problems] == [
        "the file holds more than 300 bytes of data after decompression; the limit is "
        "RETAIL_MAX_UPLOAD_MB: split the export into smaller files"]
    assert list(layout.backups.iterdir()) == []
    plain = ingest_file(drop(layout, "plain.csv", rows), layout)
    assert plain.problems[0].rule.startswith(f"the file is {len(rows) / 1024:.1f} KB; at most 300 bytes of data")


def test_mapping_files_are_capped_in_size_and_refuse_aliases(tmp_path, monkeypatch):
    good = "entity: shops\ncolumns:\n  Filiale: shop_id\n  Stadt: city\n"
    (tmp_path / "good.yaml").write_text(good)
    assert Mapping.load(tmp_path / "good.yaml").columns == {"Filiale": "shop_id", "Stadt": "city"}
    (tmp_path / "big.yaml").write_text(good + "# " + "x" * 70_000 + "\n")
    with pytest.raises(ContractError, match="larger than 65,536 bytes"):
        Mapping.load(tmp_path / "big.yaml")
    monkeypatch.setenv("RETAIL_MAX_MAPPING_KB", "100")
    assert Mapping.load(tmp_path / "big.yaml").entity == "shops"
    (tmp_path / "anchor.yaml").write_text("entity: shops\ncolumns: &c\n  Filiale: shop_id\n")
    with pytest.raises(ContractError, match="anchors and aliases"):
        Mapping.load(tmp_path / "anchor.yaml")
