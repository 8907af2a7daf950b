"""Files written atomically: a reader sees the old file or the whole new one, never a part.

Run records, cached arrays and every output (pages, figures, exports, Markdown boards) are
written so; killed half-way, the previous file is left whole.
"""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from uadbench.errors import OutputPathError

NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
"""Errors that mean the disk (or a quota or file-size limit) has no room for a write."""
REFUSED = {*NO_ROOM, errno.EACCES, errno.EPERM, errno.EROFS}
"""Errors that mean the disk or its permissions refused a write: the user's to fix."""


def unwritable(folder: Path) -> str | None:
    """None when files can be made in ``folder`` (made if missing), else why not."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            return None
    except OSError as error:
        return str(error.strerror or error)


def write_atomically(path: Path, write: bytes | Callable[[BinaryIO], object]) -> None:
    """Make ``path`` (and its folder) from ``write``: bytes, or what it puts in a binary file.

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
            if isinstance(write, bytes):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_output(path: Path, content: str | bytes | Callable[[BinaryIO], object]) -> Path:
    """Write an output file atomically (``write_atomically``): ``content`` as text (UTF-8),
    bytes, or what a function writes to a binary file. A disk that refuses it is an
    ``OutputPathError`` naming the file, which is left as it was. Returns ``path``."""
    data = content.encode() if isinstance(content, str) else content
    write = data if callable(data) else lambda handle: handle.write(data)
    try:
        write_atomically(path, write)
    except OSError as error:
        if error.errno not in REFUSED or isinstance(error, OutputPathError):
            raise
        raise OutputPathError(
            f"cannot write {path}: {error.strerror or error} (the file there is left as it "
            "was); free space there or give --out another folder"
        ) from None
    return Path(path)


def append_output(path: Path, text: str) -> Path:
    """Add ``text`` at the end of the output file ``path`` (made if missing), atomically as
    ``write_output`` writes: killed half-way, the file keeps all it had."""
    path = Path(path)
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    return write_output(path, before + text)


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
