"""One settings module: every environment variable is read there and documented in the README."""

import ast
from pathlib import Path

from retail_pipeline.platform import settings

ROOT = Path(__file__).resolve().parents[2]


def _environment_reads(path: Path) -> list[str]:
    """Lines of ``path`` that read the environment (os.environ / os.getenv)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_the_settings_module_reads_the_environment():
    reads = [hit for path in (ROOT / "retail_pipeline").rglob("*.py")
             for hit in _environment_reads(path)]
    assert reads and all(r.startswith("retail_pipeline/platform/settings.py") for r in reads), reads


def test_the_readme_configuration_table_is_the_settings_table():
    readme = (ROOT / "README.md").read_text()
    assert settings.markdown_table() in readme


def test_defaults_and_overrides(monkeypatch, tmp_path):
    for name in ("RETAIL_DATA_DIR", "RETAIL_WAREHOUSE_URL", "RETAIL_IO_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings.data_dir() == tmp_path / "data"
    assert settings.warehouse_url() == f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}"
    assert settings.io_base() == str(tmp_path / "data" / "io")
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RETAIL_WAREHOUSE_URL", "postgresql+psycopg2://u@h/db")
    assert settings.data_dir() == tmp_path / "elsewhere"
    assert settings.warehouse_url() == "postgresql+psycopg2://u@h/db"
    monkeypatch.setenv("RETAIL_PG_LOCK_TIMEOUT_MS", "")  # empty counts as unset
    assert settings.pg_lock_timeout_ms() == int(settings.SETTINGS["RETAIL_PG_LOCK_TIMEOUT_MS"].default)


def test_an_undocumented_variable_cannot_be_read():
    import pytest

    with pytest.raises(KeyError, match="not a documented setting"):
        settings.raw("RETAIL_SOMETHING_NEW")
