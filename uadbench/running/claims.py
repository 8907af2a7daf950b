"""Claims: which process works on a cell now, in a file that every machine sharing the results
folder sees (NFS, Lustre, GPFS included).

A claim is the file ``.<record name>.claim`` beside the cell's record, created atomically
(``O_CREAT | O_EXCL``: of two processes, on one machine or two, exactly one creates it) and
holding its owner: host, pid, the process's start time and a token of this claim. While the
claim is held, a heartbeat thread touches the file every ``HEARTBEAT_S`` seconds. A process
that finds a claim asks whether its owner is gone:

- on this host: its pid is dead, or reused by another process (psutil's start time);
- on another host: its heartbeat (the file's modification time) is older than
  ``STALE_AFTER_S``, ten heartbeats, which also covers clocks a few minutes apart;
- a claim file with no readable owner (one being written, or written by an older uadbench)
  counts as gone after ``STALE_AFTER_S`` since it was last touched.

A live owner's claim is never taken (``CellBusyError``). A gone owner's claim is taken over,
saying so (``CellTakenOverWarning``): takers go one at a time, each removing the stale file
only while it is still the gone owner's, then creating its own as any claimer does. Processes
the owner forked hold nothing: a run killed with its decode workers alive leaves a claim whose
owner is dead. Releasing removes the file only while it is still this claim's.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from uadbench.errors import Notice, RecordError
from uadbench.processes import is_alive, process_info, this_host

HEARTBEAT_S = 30.0
"""How often a held claim is touched."""
STALE_AFTER_S = 10 * HEARTBEAT_S
"""How old the heartbeat of another host's claim must be for its owner to count as gone."""


class CellBusyError(RecordError):
    """Another live process is running the same cell right now."""


class CellTakenOverWarning(Notice):
    """A cell's claim was taken over from an owner that is gone."""


def claim_path(record: Path) -> Path:
    """The claim file of the cell whose record is ``record``."""
    return record.parent / f".{record.stem}.claim"


class Held:
    """A claim this process holds: whether it still does (it was not taken over meanwhile)."""

    def __init__(self, path: Path, token: str) -> None:
        self.path, self.token = path, token

    def ours(self) -> bool:
        """Whether the claim file still names this claim (a read that fails says yes: a
        transient error of a network file system is no sign of a takeover)."""
        if not self.path.exists():
            return False
        owner = _owner(self.path)
        return not owner or owner.get("token") == self.token


@contextmanager
def claim(record: Path, heartbeat_s: float = HEARTBEAT_S) -> Iterator[Held]:
    """Hold the cell whose record is ``record`` for this process, with a heartbeat, until the
    block ends; ``CellBusyError`` if a live process holds it."""
    path = claim_path(record)
    held = Held(path, _acquire(path, record))
    stop = threading.Event()
    beating = threading.Thread(target=_beat, args=(held, stop, heartbeat_s), daemon=True)
    beating.start()
    try:
        yield held
    finally:
        stop.set()
        beating.join()
        if _owner(path).get("token") == held.token:
            with suppress(FileNotFoundError):
                path.unlink()


def end(record: Path) -> None:
    """Remove the claim on the cell whose record is ``record``: for a caller that knows its
    owner has ended (the scheduler or Ray says the task or worker is gone), whatever host it
    was on and however fresh its heartbeat."""
    with suppress(FileNotFoundError):
        claim_path(record).unlink()


def alive(record: Path, process: dict[str, Any]) -> bool:
    """Whether the run ``process`` of the record ``record`` is going on: on this host, its
    process lives; on another, it holds the cell's claim with a fresh heartbeat."""
    if process.get("host") == this_host():
        return is_alive(process)
    path = claim_path(record)
    owner = _owner(path)
    same = {k: owner.get(k) for k in ("pid", "host")} == {
        k: process.get(k) for k in ("pid", "host")
    }
    return same and not _gone(owner, path)


def _acquire(path: Path, record: Path) -> str:
    """Create the claim file as this process's; take over the claim of an owner that is gone."""
    token = uuid.uuid4().hex
    owner = {**process_info(), "token": token, "claimed": time.time()}
    while True:
        try:
            _create(path, owner)
            return token
        except FileExistsError:
            pass
        found = _owner(path)
        if not _gone(found, path):
            where = found.get("host", "an unknown host")
            raise CellBusyError(
                f"another uadbench process is running this cell now (pid {found.get('pid', '?')} "
                f"on {where}, {record}); wait for it to finish, or run another seed or setting"
            )
        _take_over(path, found, record)


def _create(path: Path, owner: dict[str, Any]) -> None:
    """Make ``path`` holding ``owner``, atomically; ``FileExistsError`` if it is there."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        raise
    except OSError as error:
        raise RecordError(
            f"cannot make the claim file {path}: {error.strerror or error}; make {path.parent} "
            "writable"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(owner))


def _owner(path: Path) -> dict[str, Any]:
    """The owner a claim file names ({} when it names none, or is gone)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _gone(owner: dict[str, Any], path: Path) -> bool:
    """Whether the owner of the claim ``path`` has ended (see the module docstring)."""
    if owner.get("host") == this_host() and "pid" in owner:
        return not is_alive(owner)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > STALE_AFTER_S


def _take_over(path: Path, gone: dict[str, Any], record: Path) -> None:
    """Remove the stale claim ``path``, saying so; takers go one at a time (each holds the
    ``.takeover`` file, made as a claim is), so a claim made meanwhile is never removed."""
    mutex = path.with_name(f"{path.name}.takeover")
    try:
        _create(mutex, process_info())
    except FileExistsError:  # another taker is at it: look again shortly
        with suppress(FileNotFoundError):
            if time.time() - mutex.stat().st_mtime > HEARTBEAT_S:  # that taker died mid-way
                mutex.unlink()
        time.sleep(0.05)
        return
    try:
        if _owner(path) != gone or not _gone(gone, path):
            return  # taken over already, or its owner beats again
        path.unlink(missing_ok=True)
    finally:
        mutex.unlink(missing_ok=True)
    where = f"pid {gone.get('pid', '?')} on {gone.get('host', 'an unknown host')}"
    warnings.warn(
        f"took over the cell {record}: its claim was held by uadbench process {where}, which "
        "has ended (or stopped its heartbeat)",
        CellTakenOverWarning,
        stacklevel=4,
    )


def _beat(held: Held, stop: threading.Event, every: float) -> None:
    """Touch the claim every ``every`` seconds while it is ``held``'s, until ``stop``."""
    while not stop.wait(every):
        if not held.ours():
            return
        with suppress(OSError):  # a transient error: the next beat tries again
            os.utime(held.path)
