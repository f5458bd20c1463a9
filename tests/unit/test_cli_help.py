"""Issue 13: every option of every command says what it does and what happens when it is not given.

Each command builds its parser when it runs; ``--help`` is intercepted at ``parse_args`` so
the parser itself (not its printed text) is checked: every option has help text, and every
option that is neither required nor an on/off flag names its default in it.
"""

from __future__ import annotations

import argparse

import pytest

from sactui import main as cli


class _Caught(Exception):
    pass


def parser_of(command: str, monkeypatch) -> argparse.ArgumentParser:
    caught: list[argparse.ArgumentParser] = []

    def capture(self, args=None, namespace=None):
        caught.append(self)
        raise _Caught

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Caught):
        if command:
            cli.COMMANDS[command].run(["--help"])
        else:
            cli.session.run(["--help"], cli.command_list())
    return caught[-1]


def undocumented(parser: argparse.ArgumentParser) -> list[str]:
    missing = []
    for action in parser._actions:  # argparse keeps no public list of its actions
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        name = action.option_strings[-1]
        text = (action.help or "").lower()
        if not text or action.help == argparse.SUPPRESS:
            missing.append(f"{name}: no help text")
            continue
        flag = action.nargs == 0
        if not action.required and not flag and "default" not in text and "repeatable" not in text:
            missing.append(f"{name}: does not say its default")
    return missing


@pytest.mark.parametrize("command", ["", *cli.COMMANDS])
def test_every_option_of_every_command_has_help_and_its_default(command, monkeypatch):
    parser = parser_of(command, monkeypatch)
    assert undocumented(parser) == [], f"sactui {command or '--train-id X'}"


def test_bare_sactui_lists_every_command(capsys):
    assert cli.main([]) == 0
    listing = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"  {name} " in listing, name
