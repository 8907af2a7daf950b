"""Progress reporting for long loops: a rich bar in the terminal, silence in tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

T = TypeVar("T")


class ProgressTask(Protocol):
    """One bar: ``advance`` it as work gets done."""

    def advance(self, n: int = 1, **info: float) -> None: ...


class ProgressReporter(Protocol):
    """Hands out bars; a method asks for one per long loop."""

    def task(self, description: str, total: int) -> AbstractContextManager[ProgressTask]: ...


class _NullTask:
    def advance(self, n: int = 1, **info: float) -> None:
        pass

    def __enter__(self) -> _NullTask:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class SilentProgress:
    """A reporter that shows nothing."""

    def task(self, description: str, total: int) -> _NullTask:
        return _NullTask()


class RichProgress:
    """A reporter that draws rich progress bars on the console (stderr)."""

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True)

    def task(self, description: str, total: int) -> _RichTask:
        return _RichTask(self._console, description, total)


class _RichTask:
    def __init__(self, console: object, description: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
        )
        self._id = self._progress.add_task(description, total=total, info="")

    def advance(self, n: int = 1, **info: float) -> None:
        text = "  ".join(f"{k} {v:.4g}" for k, v in info.items())
        if text:
            self._progress.update(self._id, advance=n, info=text)
        else:
            self._progress.update(self._id, advance=n)

    def __enter__(self) -> _RichTask:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def track(
    reporter: ProgressReporter, items: Iterable[T], description: str, total: int
) -> Iterator[T]:
    """Iterate over ``items`` while advancing one bar per item."""
    with reporter.task(description, total) as bar:
        for item in items:
            yield item
            bar.advance()
