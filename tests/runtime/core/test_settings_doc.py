"""The README's configuration tables are the declaration in runtime/settings.py, rendered.

When this fails, run ``python -m runtime.settings --write README.md`` and review the diff.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.settings import README_COMMAND, SETTINGS, TOPICS, _markers, main, markdown_table, render_readme

README = Path(__file__).resolve().parents[3] / "README.md"


def _table_rows(text: str) -> dict[str, str]:
    """``{variable: default}`` of every row inside the README's marked settings tables."""
    rows = {}
    for topic in TOPICS:
        begin, end = _markers(topic)
        block = text[text.index(begin) + len(begin): text.index(end)]
        for line in block.splitlines()[2:]:
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_readme_tables_match_the_declaration():
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, f"the README's settings tables are stale; run {README_COMMAND}"


def test_every_declared_variable_is_listed_once_with_its_default():
    rows = _table_rows(README.read_text(encoding="utf-8"))
    declared = {s.env: s.readme_default() for s in SETTINGS}
    assert sorted(set(declared) - set(rows)) == [], "declared but missing from the README"
    assert sorted(set(rows) - set(declared)) == [], "listed in the README but not declared"
    assert {env: rows[env] for env in declared} == declared


def test_the_readme_names_no_undeclared_variable():
    text = README.read_text(encoding="utf-8")
    declared = {s.env for s in SETTINGS}
    named = set(re.findall(r"\bUNAMENTIS_[A-Z0-9_]*[A-Z0-9]\b", text))
    assert sorted(named - declared) == []


def test_the_check_detects_a_changed_default(tmp_path):
    stale = README.read_text(encoding="utf-8").replace("| `UNAMENTIS_DB_POOL_MAX` | `10` |", "| `UNAMENTIS_DB_POOL_MAX` | `20` |")
    path = tmp_path / "README.md"
    path.write_text(stale, encoding="utf-8")
    assert main(["--check", str(path)]) == 1
    assert main(["--write", str(path)]) == 0 and main(["--check", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_rows(topic):
    assert markdown_table(topic).count("\n| `") >= 1
