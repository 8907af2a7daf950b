"""Run records: one JSON file per (method, data set, seed, configuration), written atomically.

A record's ``status`` is ``running`` while the run goes on (written before any work, so a run
killed with SIGKILL still leaves a trace), then ``ok`` or ``failed``. Records live under
``<results-dir>/runs/<dataset>/<method>/``; the file name carries the profile, image size, seed
and a hash of the configuration, which identifies the run (its *cell*).

A finished (``ok``) record is never overwritten by anything less: a forced rerun works in
``<name>.rerun.json`` and replaces the finished record only once it has finished itself, and a
run on other data (another data fingerprint) first sets the old record aside as
``<name>.data-<fingerprint>.json``. One process at a time works on a cell (``claim``).

Schema versions: 1 (before data fingerprints) and 2 are read; a newer one is refused, never
overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uadbench.atomic import write_atomically
from uadbench.errors import RecordError, one_line
from uadbench.processes import is_alive

SCHEMA_NAME = "uadbench.run"
SCHEMA_VERSION = 2
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
RUNS_FOLDER = "runs"
STATUSES = ("running", "ok", "failed")
CONFIG_KEYS = ("method", "dataset", "profile", "image_size", "seed", "params", "split_version")
OK_METRICS = ("auroc", "average_precision")
RERUN_SUFFIX = ".rerun"


class NewerRecordError(RecordError, ValueError):
    """A record written by a newer uadbench, whose schema this one does not know."""


class CellBusyError(RecordError):
    """Another process is running the same cell right now."""


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of a configuration (every key and value that defines a run)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def record_path(results_dir: Path, config: dict[str, Any]) -> Path:
    """Where the record of ``config`` lives."""
    name = (
        f"{config['profile']}-{config['image_size']}px-seed{config['seed']}-{config_hash(config)}"
    )
    folder = Path(results_dir) / RUNS_FOLDER / _safe(config["dataset"]) / _safe(config["method"])
    return folder / f"{name}.json"


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically: readers see the old file or the whole new one."""
    text = json.dumps(record, indent=1, allow_nan=False, default=_json_default)
    write_atomically(path, lambda handle: handle.write(text.encode()))


def rerun_path(path: Path) -> Path:
    """Where a forced rerun of the cell whose record is ``path`` works until it has finished."""
    return path.with_name(f"{path.stem}{RERUN_SUFFIX}.json")


def set_aside_path(path: Path, fingerprint: str | None) -> Path:
    """Where the finished record ``path`` of other data (``fingerprint``) is kept."""
    return path.with_name(f"{path.stem}.data-{fingerprint or 'unknown'}.json")


def read_record(path: Path) -> dict[str, Any]:
    """One record, checked; ``NewerRecordError`` for a newer schema, ``ValueError`` if it is
    not a run record or lacks what its status requires."""
    record = json.loads(Path(path).read_text())
    schema = record.get("schema") if isinstance(record, dict) else None
    name, _, version = str(schema).partition("/")
    if name != SCHEMA_NAME or not version.isdigit():
        raise ValueError(f"not a {SCHEMA_NAME} record (schema {schema!r})")
    if int(version) > SCHEMA_VERSION:
        raise NewerRecordError(
            f"{path} is a {schema} record, written by a newer uadbench than this one (which "
            f"reads up to {SCHEMA}); upgrade uadbench, or use another --results-dir"
        )
    _check_shape(record)
    return record


def _check_shape(record: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming what a record lacks for its status."""
    status = record.get("status")
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is none of {', '.join(STATUSES)}")
    config = record.get("config")
    if not isinstance(config, dict):
        raise ValueError("it has no config")
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(f"its config lacks {', '.join(missing)}")
    if status != "ok":
        return
    metrics, test = record.get("metrics"), record.get("test")
    if not isinstance(metrics, dict) or any(
        not isinstance(metrics.get(m), int | float) for m in OK_METRICS
    ):
        raise ValueError(f"an ok record without metrics {' and '.join(OK_METRICS)}")
    test = test if isinstance(test, dict) else {}
    lists = [test.get(key) for key in ("ids", "labels", "scores")]
    if not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1:
        raise ValueError("an ok record without test ids, labels and scores of one length")


def existing_record(path: Path) -> dict[str, Any] | None:
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
    except ValueError as error:
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


def scan_records(results_dir: Path) -> tuple[list[dict[str, Any]], list[UnreadableRecord]]:
    """Every record under ``results_dir/runs`` (with ``_path`` set) and the unreadable files."""
    records, unreadable = [], []
    for path in _record_files(Path(results_dir)):
        try:
            record = read_record(path)
        except (OSError, ValueError) as error:  # NewerRecordError is a ValueError too
            unreadable.append(UnreadableRecord(path, f"{type(error).__name__}: {error}"))
            continue
        record["_path"] = str(path)
        if record.get("status") == "running" and not is_alive(record.get("process", {})):
            record["status"] = "interrupted"
        records.append(record)
    return records, unreadable


def _record_files(results_dir: Path) -> Iterator[Path]:
    runs = results_dir / RUNS_FOLDER
    if runs.is_dir():
        yield from sorted(p for p in runs.rglob("*.json") if not p.name.startswith("."))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
