"""The README documents what the code does: the commands CI runs and the data contract."""

from pathlib import Path

from retail_pipeline.contract import ENTITIES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:10])
    assert "make dev" in head and "make test" in head


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_contract_column_is_documented():
    readme = (ROOT / "README.md").read_text()
    for entity in ENTITIES.values():
        assert f"**{entity.name}**" in readme
        for column in entity.columns:
            assert f"| `{column.name}` | {column.kind} |" in readme, f"{entity.name}.{column.name}"
