"""Files written atomically: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def unwritable(folder: Path) -> str | None:
    """None when files can be made in ``folder`` (made if missing), else why not."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            return None
    except OSError as error:
        return str(error.strerror or error)


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Make ``path`` (and its folder) from what ``write`` puts in a binary file.

    The bytes go to a uniquely named hidden file beside ``path``, are flushed to disk, and then
    replace ``path`` in one step; on any error the hidden file is removed and ``path`` is left
    as it was. The file gets ordinary permissions (0o666 under the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{path.name}.{uuid.uuid4().hex}.partial"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)  # Windows: bytes
    fd = os.open(partial, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, then deliver them: a finished result
    being written is written whole. Outside the main thread it does nothing."""
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    try:
        previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # signals can only be handled in the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])
