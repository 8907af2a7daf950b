"""Work shared out to forked worker processes, one per core this process may use.

Workers are forked, so what they work on (a data set object, a plugin's included; a board of
thousands of records) needs no pickling; where fork is not available, or one worker would do,
the work is done in this process. On Linux a worker dies with the process that started it,
however that ends (kill -9 too), so none is left holding what it inherited (a cell's lock).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

PR_SET_PDEATHSIG = 1
"""prctl(2)'s option: the signal a process gets when the thread that started it ends."""
T = TypeVar("T")
_CALLS: Sequence[Callable[[], Any]] = ()
"""The calls a worker of ``called_in_workers`` makes (set in each worker as it starts)."""


def default_workers() -> int:
    """Every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked here."""
    return "fork" in multiprocessing.get_all_start_methods()


def forked_pool(
    workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> ProcessPoolExecutor:
    """``workers`` forked processes, each started by ``initializer(*initargs, parent_pid)``
    (``initargs`` are inherited, not pickled) and killed when this process ends."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=initializer,
        initargs=(*initargs, os.getpid()),
    )


def die_with(parent: int) -> None:
    """Have the kernel kill this worker when ``parent`` ends (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the request was made
        os._exit(1)


def called_in_workers(calls: Sequence[Callable[[], T]], workers: int | None = None) -> list[T]:
    """The result of each of ``calls``, in order, the calls shared out among forked workers in
    that order (the longest first finishes soonest); an exception of a call is raised here."""
    workers = min(default_workers() if workers is None else workers, len(calls))
    if workers <= 1 or not can_fork():
        return [call() for call in calls]
    with forked_pool(workers, _set_calls, (calls,)) as pool:
        return list(pool.map(_call, range(len(calls))))


def _set_calls(calls: Sequence[Callable[[], Any]], parent: int) -> None:
    global _CALLS
    die_with(parent)
    _CALLS = calls


def _call(index: int) -> Any:
    return _CALLS[index]()
