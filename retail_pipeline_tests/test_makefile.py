"""The Makefile binds the UI where RETAIL_HOST says, never where a shell's HOST points."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(target: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("RETAIL_HOST", "RETAIL_PORT")}
    return subprocess.run(["make", "-n", target], cwd=ROOT, env={**environment, **env},
                          capture_output=True, text=True, check=True).stdout


def test_an_exported_host_does_not_move_the_ui():
    out = _dry_run("dev", HOST="0.0.0.0", PORT="9999")
    assert "dg dev --host 127.0.0.1 --port 3000" in out
    assert "0.0.0.0" not in out and "9999" not in out


def test_retail_host_and_port_choose_the_address():
    out = _dry_run("dev", RETAIL_HOST="127.0.0.2", RETAIL_PORT="3001")
    assert "dg dev --host 127.0.0.2 --port 3001" in out
