"""The ``uadbench`` command line: run, sweep, leaderboard, plot, report, and the lists of methods
and data sets.

Option parsing and printing only; the work is in the library. A user's mistake (any
``uadbench.errors.UserError``, or a command-line mistake that click finds) is printed as one
line starting ``error:`` and exits 2 when no work was started; a run or cell that failed, or a
record file that could not be read, exits 1 after the rest is done; Ctrl-C exits 130. Anything
else is a bug and shows its traceback. Heavy libraries (torch, pandas, matplotlib) are imported
inside the commands that need them, so ``uadbench --help`` answers at once.
"""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from uadbench.cli import boards, listings, running
from uadbench.cli.common import app, say
from uadbench.errors import Notice

__all__ = ["app", "main"]

for command in (
    running.run,
    running.sweep,
    running.rerun,
    boards.leaderboard,
    boards.plot,
    boards.board,
    boards.report,
    boards.show,
    boards.export,
    listings.methods,
    listings.datasets,
):
    app.command()(command)
app.command("contact-sheet")(listings.contact_sheet)


def _version(shown: bool) -> None:
    if shown:
        from uadbench import __version__

        typer.echo(f"uadbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Benchmark unsupervised anomaly detection in chest radiographs."""


def main() -> None:
    """Entry point of the ``uadbench`` console script."""
    python_shows = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: object, **kw: object) -> None:
        """A ``Notice`` as one ``warning:`` line; other warnings as Python shows them."""
        if issubclass(category, Notice):
            say("bold yellow", "warning: ", str(message))
        else:
            python_shows(message, category, *args, **kw)

    warnings.showwarning = show
    app()
