"""Progress reporting for long loops: a rich bar in the terminal, silence in tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

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


SPEED_WINDOW_S = 24 * 3600.0
"""The time over which a bar's speed (and so its ETA) is estimated: rich's default of 30 s
leaves the ETA blank whenever one step (an epoch) takes longer than that."""


def rich_bars(console: Any = None, transient: bool = False, clock: Any = None) -> Any:
    """A rich ``Progress`` with the columns every uadbench bar has: what, bar, n of total,
    elapsed, remaining (over ``SPEED_WINDOW_S``) and the latest numbers."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=transient,
        speed_estimate_period=SPEED_WINDOW_S,
        **({"get_time": clock} if clock else {}),
    )


class RichProgress:
    """A reporter that draws rich progress bars on the console (stderr), or adds them to the
    rich ``Progress`` ``into`` (e.g. a sweep's, so that each cell's bars show beneath it)."""

    def __init__(self, into: Any = None) -> None:
        from rich.console import Console

        self._into = into
        self._console = Console(stderr=True) if into is None else None

    def task(self, description: str, total: int) -> _RichTask:
        return _RichTask(self._into or rich_bars(self._console), description, total, self._into)


class _RichTask:
    def __init__(self, progress: Any, description: str, total: int, shared: Any) -> None:
        self._progress, self._shared = progress, shared is not None
        self._id = progress.add_task(description, total=total, info="", start=False)

    def advance(self, n: int = 1, **info: float) -> None:
        text = "  ".join(f"{k} {v:.4g}" for k, v in info.items())
        if text:
            self._progress.update(self._id, advance=n, info=text)
        else:
            self._progress.update(self._id, advance=n)

    def __enter__(self) -> _RichTask:
        if not self._shared:
            self._progress.start()
        self._progress.start_task(self._id)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._shared:
            self._progress.remove_task(self._id)
        else:
            self._progress.stop()


def track(
    reporter: ProgressReporter, items: Iterable[T], description: str, total: int
) -> Iterator[T]:
    """Iterate over ``items`` while advancing one bar per item."""
    with reporter.task(description, total) as bar:
        for item in items:
            yield item
            bar.advance()
