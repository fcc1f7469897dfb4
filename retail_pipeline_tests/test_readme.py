"""The README documents what the code does: commands, contract, settings and the code layout."""

import re
from pathlib import Path

from retail_pipeline.contract.docs import contract_markdown
from retail_pipeline.platform import settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    head = "\n".join(README.splitlines()[:10])
    assert "make dev" in head and "make test" in head


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_data_contract_is_documented_as_the_code_defines_it():
    assert contract_markdown() in README


def test_the_configuration_table_is_the_settings_module():
    assert settings.markdown_table() in README


def test_the_layout_section_matches_the_tree():
    """Every folder of `find retail_pipeline -maxdepth 2 -type d` is named in the layout block,
    and the block names no folder that does not exist."""
    block = README.split("## Code layout", 1)[1].split("```", 2)[1]
    named, stack = set(), []
    for line in block.splitlines():
        match = re.match(r"^( *)([a-z_]+)/(?:\s|$)", line)
        if not match:
            continue
        depth = len(match.group(1)) // 2
        stack = [*stack[:depth], match.group(2)]
        named.add("/".join(stack))
    tree = {str(p.relative_to(ROOT)) for p in (ROOT / "retail_pipeline").glob("*") if p.is_dir()}
    tree |= {str(p.relative_to(ROOT)) for p in (ROOT / "retail_pipeline").glob("*/*") if p.is_dir()}
    tree = {t for t in tree if "__pycache__" not in t}
    assert tree - named == set(), "folders missing from the README layout"
    assert {n for n in named if n.startswith("retail_pipeline/")} - tree == set(), \
        "the README layout names folders that do not exist"


def test_every_chart_is_named_with_what_it_shows():
    from retail_pipeline.definitions import defs
    from retail_pipeline.defs.helpers import charts_markdown

    table = charts_markdown(defs())
    assert table.count("\n") >= 20 and table in README
