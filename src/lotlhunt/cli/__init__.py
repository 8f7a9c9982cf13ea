"""The ``lotlhunt`` command: a thin shell over the library.

One module per command or family of commands; the options they share, and how an error
becomes an exit code, are in :mod:`lotlhunt.cli.options`. Exit codes scripts can rely
on: 0 the command ran (findings or not), 1 it failed or, with ``--strict``, an input or
rule could not be read, 2 the command line was wrong.
"""

from __future__ import annotations

from importlib import import_module

import click

from .._support import quick_exit
from .._support.gc_pause import one_command_process
from .._support.no_pandas import keep_pandas_out
from .hunt_command import hunt, print_noisiest
from .options import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .progress import RichProgress

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "RichProgress",
    "cli",
    "main",
    "print_noisiest",
]


#: The commands besides ``hunt``: name -> (module of this package, attribute). A command's
#: module is imported when the command runs or help lists it, so a hunt does not start
#: by importing the search, ingest, rules, statistics and simulator commands.
_LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "search": ("search_command", "search"),
    "stats": ("events_commands", "stats"),
    "logons": ("events_commands", "logons"),
    "ingest": ("ingest_command", "ingest"),
    "rules": ("rules_commands", "rules"),
    "simulate": ("simulate_command", "simulate"),
}


class _LazyGroup(click.Group):
    """A group whose commands of :data:`_LAZY_COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in _LAZY_COMMANDS:
            module, attribute = _LAZY_COMMANDS[cmd_name]
            found = getattr(import_module(f"{__name__}.{module}"), attribute)
            assert isinstance(found, click.Command)
            self.add_command(found, cmd_name)
        return found


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lotlhunt")
def cli() -> None:
    """Hunt living-off-the-land intrusions in Windows event logs."""


cli.add_command(hunt)


def main() -> None:
    """Entry point; click turns usage errors into exit 2."""
    keep_pandas_out()  # nothing the command line runs needs it, but the Spark engine
    # What the imports made lives as long as the process, and so do the compiled rules:
    # the cyclic collector need not walk them again on every full collection of the
    # hunt's objects, nor walk those every 700 allocations.
    one_command_process()
    quick_exit.disarm()
    try:
        cli(prog_name="lotlhunt")
    except SystemExit as exc:
        quick_exit.finish(exc.code)  # a command done with everything it opened
        raise
