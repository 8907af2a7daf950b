"""Run records on disk: one JSON file per cell (method, data set, seed, configuration).

Each file holds one ``RunRecord`` (``uadbench.running.run_record``), written atomically.

A record's ``status`` is ``running`` while the run goes on (written before any work, so a run
killed with SIGKILL still leaves a trace), then ``ok`` or ``failed``. Records live under
``<results-dir>/runs/<dataset>/<method>/``; the file name carries the profile, image size, seed
and a hash of the configuration, which identifies the run (its *cell*).

A finished (``ok``) record is never overwritten by anything less: a forced rerun works in
``<name>.rerun.json`` and replaces the finished record only once it has finished itself, and a
run on other data (another data fingerprint) first sets the old record aside as
``<name>.data-<fingerprint>.json``. One process at a time works on a cell (``claim``).

Reading a file checks it and upgrades older schemas (``RunRecord.from_json``); a newer one is
refused, never overwritten. A file under ``runs/`` that cannot be read is never dropped
silently: ``scan_records`` returns it beside the readable records (``RecordSet``), and every
command names it (``uadbench.cli.boards``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uadbench.atomic import write_atomically
from uadbench.errors import RecordError, one_line
from uadbench.file_names import slug
from uadbench.running.run_record import NewerRecordError, RunConfig, RunRecord

RUNS_FOLDER = "runs"
RERUN_SUFFIX = ".rerun"


class CellBusyError(RecordError):
    """Another process is running the same cell right now."""


def record_path(results_dir: Path, config: RunConfig) -> Path:
    """Where the record of ``config`` lives."""
    name = f"{config.profile}-{config.image_size}px-seed{config.seed}-{config.hash}"
    folder = Path(results_dir) / RUNS_FOLDER / slug(config.dataset) / slug(config.method)
    return folder / f"{name}.json"


def results_dir_of(path: Path) -> Path:
    """The results folder holding the record file ``path`` (``<it>/runs/<data set>/<method>/``)."""
    return Path(path).parents[3]


def write_record(path: Path, record: RunRecord) -> None:
    """Write ``record`` to ``path`` atomically: readers see the old file or the whole new one."""
    text = json.dumps(record.to_json(), indent=1, allow_nan=False, default=_json_default)
    write_atomically(path, lambda handle: handle.write(text.encode()))


def rerun_path(path: Path) -> Path:
    """Where a forced rerun of the cell whose record is ``path`` works until it has finished."""
    return path.with_name(f"{path.stem}{RERUN_SUFFIX}.json")


def set_aside_path(path: Path, fingerprint: str | None) -> Path:
    """Where the finished record ``path`` of other data (``fingerprint``) is kept."""
    return path.with_name(f"{path.stem}.data-{fingerprint or 'unknown'}.json")


def read_record(path: Path) -> RunRecord:
    """One record, checked; ``NewerRecordError`` for a newer schema, ``ValueError`` if it is
    not a run record or lacks what its status requires."""
    return RunRecord.from_json(json.loads(Path(path).read_text()), Path(path))


def existing_record(path: Path) -> RunRecord | None:
    """The record at ``path``, or None when there is no file there. A file that cannot be
    read, or is not a usable record, may hold a result: ``RecordError``, and it stays."""
    try:
        return read_record(path)
    except FileNotFoundError:
        return None
    except NewerRecordError:
        raise
    except OSError as error:
        raise RecordError(
            f"cannot read the run record {path}: {error.strerror or error}; make it readable"
        ) from None
    except (ValueError, TypeError) as error:
        raise RecordError(
            f"{path} is not a usable run record ({one_line(str(error))}) and stands where this "
            "run's record goes; move it out of the results folder, then run again"
        ) from None


@contextmanager
def claim(path: Path) -> Iterator[None]:
    """Hold the cell whose record is ``path`` for this process; ``CellBusyError`` if another
    process holds it. The hold ends with the block, or with the process, however it ends."""
    import fcntl

    lock = path.parent / f".{path.stem}.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_RDONLY, 0o666)
    except OSError as error:
        raise RecordError(
            f"cannot make the lock file {lock}: {error.strerror or error}; make {lock.parent} "
            "writable"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CellBusyError(
                f"another uadbench process is running this cell now ({path}); wait for it to "
                "finish, or run another seed or setting"
            ) from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class UnreadableRecord:
    """A file under ``runs/`` that is not a readable run record, and why."""

    path: Path
    reason: str


class UnreadableRecordsError(RecordError):
    """Record files that could not be read were left out of an output."""


@dataclass
class RecordSet:
    """The readable records of a results folder, and the files that could not be read."""

    records: list[RunRecord] = field(default_factory=list)
    unreadable: list[UnreadableRecord] = field(default_factory=list)

    def only(self, datasets: Iterable[str]) -> RecordSet:
        """The records of these data sets (all when none are named)."""
        wanted = set(datasets)
        if not wanted:
            return self
        return RecordSet([r for r in self.records if r.config.dataset in wanted], self.unreadable)

    def note(self) -> str:
        """``"; N record file(s) could not be read, e.g. <path> (<why>)"``, or ``""``."""
        if not self.unreadable:
            return ""
        first = self.unreadable[0]
        return (
            f"; {len(self.unreadable)} record file(s) could not be read, e.g. {first.path} "
            f"({first.reason})"
        )

    def left_out(self) -> None:
        """Raise ``UnreadableRecordsError`` if any file was left out (after the output)."""
        if self.unreadable:
            raise UnreadableRecordsError(
                f"{len(self.unreadable)} record file(s) could not be read and were left out, "
                f"e.g. {self.unreadable[0].path}; fix them or move them out of the results folder"
            )


def scan_records(results_dir: Path) -> RecordSet:
    """Every record under ``results_dir/runs`` and the files there that cannot be read."""
    found = RecordSet()
    for path in _record_files(Path(results_dir)):
        try:
            found.records.append(read_record(path))
        except (OSError, ValueError, TypeError) as error:  # NewerRecordError is a ValueError
            found.unreadable.append(UnreadableRecord(path, f"{type(error).__name__}: {error}"))
    return found


def scan_folders(results_dirs: Iterable[Path]) -> RecordSet:
    """``scan_records`` of each folder, together: one board over several results folders."""
    found = RecordSet()
    for results_dir in dict.fromkeys(Path(d) for d in results_dirs):
        one = scan_records(results_dir)
        found.records += one.records
        found.unreadable += one.unreadable
    return found


def _record_files(results_dir: Path) -> Iterator[Path]:
    runs = results_dir / RUNS_FOLDER
    if runs.is_dir():
        yield from sorted(p for p in runs.rglob("*.json") if not p.name.startswith("."))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
