"""The ``lotlhunt`` command: a thin shell over the library.

One module per command or family of commands; the options they share, and how an error
becomes an exit code, are in :mod:`lotlhunt.cli.options`. Exit codes scripts can rely
on: 0 the command ran (findings or not), 1 it failed or, with ``--strict``, an input or
rule could not be read, 2 the command line was wrong.
"""

from __future__ import annotations

import gc

import click

from .._support import quick_exit
from .._support.gc_pause import freeze_lasting
from .._support.no_pandas import keep_pandas_out
from .events_commands import logons, stats
from .hunt_command import hunt, print_noisiest
from .ingest_command import ingest
from .options import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .progress import RichProgress
from .rules_commands import rules
from .search_command import search
from .simulate_command import simulate

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "RichProgress",
    "cli",
    "main",
    "print_noisiest",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lotlhunt")
def cli() -> None:
    """Hunt living-off-the-land intrusions in Windows event logs."""


for command in (search, stats, logons, hunt, ingest, rules, simulate):
    cli.add_command(command)


def main() -> None:
    """Entry point; click turns usage errors into exit 2."""
    keep_pandas_out()  # nothing the command line runs needs it, but the Spark engine
    # What the imports made lives as long as the process: the cyclic collector need
    # not walk it again on every full collection of the hunt's objects.
    gc.freeze()
    freeze_lasting()  # and so does what is made to last it (the compiled rules)
    quick_exit.disarm()
    try:
        cli(prog_name="lotlhunt")
    except SystemExit as exc:
        quick_exit.finish(exc.code)  # a command done with everything it opened
        raise
