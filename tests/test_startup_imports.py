"""What a hunt imports at start-up: the other commands and the reports not asked for are
imported when used, and each still resolves to what it was."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import lotlhunt.reports as reports
from lotlhunt.cli import _LAZY_COMMANDS, cli


def _modules_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ
    ).stdout
    return set(out.split())


def test_the_command_line_imports_the_hunt_command_only() -> None:
    loaded = _modules_after("import lotlhunt.cli")
    assert "lotlhunt.cli.hunt_command" in loaded
    for module, _ in _LAZY_COMMANDS.values():
        assert f"lotlhunt.cli.{module}" not in loaded
    for report in ("html", "ecs", "timesketch", "navigator", "files"):
        assert f"lotlhunt.reports.{report}" not in loaded


def test_every_command_resolves_and_help_lists_them_all() -> None:
    ctx = click.Context(cli)
    assert set(cli.list_commands(ctx)) == {"hunt", *_LAZY_COMMANDS}
    for name in _LAZY_COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(ctx, "nonsense") is None
    listed = CliRunner().invoke(cli, ["--help"]).output
    assert all(f"  {name} " in listed for name in (*_LAZY_COMMANDS, "hunt"))
    ran = CliRunner().invoke(cli, ["rules", "--help"])
    assert ran.exit_code == 0 and "check" in ran.output


def test_every_report_writer_resolves_by_its_option_and_by_name() -> None:
    for name, report in reports.REPORTS.items():
        writer = report.writer
        assert callable(writer) and writer.__name__ == report.target.split(":")[1]
        assert getattr(reports, writer.__name__) is writer
        assert report.option == f"--{name}"
    assert set(reports.__all__) >= {r.writer.__name__ for r in reports.REPORTS.values()}
    with pytest.raises(AttributeError):
        reports.write_nothing  # type: ignore[attr-defined]  # noqa: B018
