"""What every command shares: the Typer app, the two consoles, the shared options, and how a
user's error, Ctrl-C and SIGTERM end a command."""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from uadbench.errors import UserError, one_line
from uadbench.outputs.formats import FORMATS

DEFAULT_METHOD = "ae"
DEFAULT_DATASET = "synthetic"
DEFAULT_RESULTS = Path("results")
INTERRUPTED = 130


UsageError: type[Exception] = typer.BadParameter.__base__
"""Click's error for a command-line mistake (typer vendors click and exports only this
subclass of it)."""


class Commands(TyperGroup):
    """The commands, whose command-line mistakes (an unknown command or option, a value not
    among an option's choices) end as a user's error does: one ``error:`` line, exit 2."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            command = error.ctx.command_path if error.ctx else ctx.command_path
            message = error.format_message().removesuffix(".").replace("Value error, ", "")
            fail(f"{message}; see `{command} --help`")  # (that prefix is pydantic's)
        finally:  # what reading records froze out of the collector's passes is its again
            gc.unfreeze()


app = typer.Typer(
    cls=Commands,
    help="Benchmark unsupervised anomaly detection in chest radiographs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

PluginOption = Annotated[
    list[str],
    typer.Option(
        "--plugin", help="A .py file or module defining Method/Dataset classes (repeatable)."
    ),
]


def choices(name: str, values: Sequence[str]) -> type[Enum]:
    """An Enum of ``values``, which typer lists as the option's choices in its help and shell
    completion (the values come from the table that defines them)."""
    return Enum(name, {value: value for value in values}, type=str)


Format = choices("Format", FORMATS)
"""The board's formats (``uadbench.outputs.formats``)."""

ResultsOption = Annotated[
    Path, typer.Option("--results-dir", help="Folder of run records (records go in runs/).")
]
ResultsDirsOption = Annotated[
    list[Path],
    typer.Option(
        "--results-dir",
        help="Folder of run records; repeat it for one board over several folders.",
    ),
]
DataRootOption = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        help="Folder holding one folder per data set (or a data set's own root); "
        "default $UADBENCH_DATA_ROOT or ~/uadbench-data.",
    ),
]
CacheOption = Annotated[
    Path | None,
    typer.Option(help="Prepared-array cache; default $UADBENCH_CACHE_DIR or ~/.cache/uadbench."),
]
SeedsOption = Annotated[str | None, typer.Option(help="Several seeds: 0,1,2 or 0-4.")]
ParamOption = Annotated[
    list[str], typer.Option("--param", help="Hyperparameter override key=value (repeatable).")
]
DataOptionOption = Annotated[
    list[str], typer.Option("--data-option", help="Data set option key=value (repeatable).")
]
FLAG = ""
"""The metavar of a flag: none (else the help shows ``<bool>`` after it)."""
SkipOption = Annotated[
    bool,
    typer.Option(
        "--skip-unreadable",
        help="Leave out unreadable images (listed in the run record).",
        metavar=FLAG,
    ),
]


def profile_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of ``--profile``: the profiles of the ``--method`` given (of every
    method when none is)."""
    from uadbench import registry

    given = ctx.params.get("method") or registry.methods.names()
    names: set[str] = set()
    for method in [given] if isinstance(given, str) else given:
        try:
            names |= set(registry.methods.get(method).profile_table())
        except UserError:  # an unknown method: nothing to offer for it
            continue
    return sorted(name for name in names if name.startswith(incomplete))


DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]


def say(style: str, prefix: str, message: str) -> None:
    """One line on stderr: ``prefix`` styled, ``message`` as plain text (never markup)."""
    err.print(Text.assemble((prefix, style), one_line(message)), soft_wrap=True, highlight=False)


def wrote(path: Path) -> None:
    """``wrote <path>`` on stdout."""
    out.print(f"wrote {path}", markup=False, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with ``error: <message>`` and exit status ``code``."""
    say("bold red", "error: ", message)
    raise typer.Exit(code)


@contextmanager
def user_errors(code: int = 2) -> Iterator[None]:
    """A ``UserError`` becomes its one-line message and exit status ``code``; Ctrl-C exits
    130."""
    try:
        yield
    except UserError as error:
        fail(str(error), code)
    except KeyboardInterrupt:
        fail("interrupted (Ctrl-C); finished records are kept", INTERRUPTED)


@contextmanager
def sigterm_stops() -> Iterator[None]:
    """SIGTERM stops the command as an exit does, so a run's record says it was stopped."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
