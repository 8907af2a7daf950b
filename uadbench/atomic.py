"""Files written atomically: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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
