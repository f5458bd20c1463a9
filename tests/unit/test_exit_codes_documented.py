"""The README's exit-code tables list exactly the codes ``errors.py`` defines: an operator's
supervisor script is written from that table, so a code added or renumbered must show there."""

from __future__ import annotations

import re

from trader_core.errors import ExitCode, StatusCode

from support import REPO


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_the_exit_code_table_lists_every_code_once_and_nothing_else():
    rows = re.findall(r"^\| (\d+) \| ", _section("Exit codes"), flags=re.MULTILINE)
    assert [int(code) for code in rows] == sorted(int(code) for code in ExitCode)


def test_the_status_codes_are_all_named_below_the_table():
    section = _section("Exit codes")
    status = section[section.index("`sactui status`"):]
    named = sorted(int(code) for code in re.findall(r"\b(\d+) [a-zA-Z]", status))
    assert named == sorted(int(code) for code in StatusCode)
