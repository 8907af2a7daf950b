"""Run records: one JSON file per (method, data set, seed, configuration), written atomically.

A record's ``status`` is ``running`` while the run goes on (written before any work, so a run
killed with SIGKILL still leaves a trace), then ``ok`` or ``failed``. Records live under
``<results-dir>/runs/<dataset>/<method>/``; the file name carries the profile, image size, seed
and a hash of the configuration, which identifies the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uadbench.atomic import write_atomically

SCHEMA = "uadbench.run/1"
RUNS_FOLDER = "runs"


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


def read_record(path: Path) -> dict[str, Any]:
    """One record; ``ValueError`` if it is not a uadbench run record."""
    record = json.loads(Path(path).read_text())
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} record")
    return record


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
        except (OSError, ValueError) as error:
            unreadable.append(UnreadableRecord(path, f"{type(error).__name__}: {error}"))
            continue
        record["_path"] = str(path)
        if record.get("status") == "running" and not _is_alive(record.get("process", {})):
            record["status"] = "interrupted"
        records.append(record)
    return records, unreadable


def _record_files(results_dir: Path) -> Iterator[Path]:
    runs = results_dir / RUNS_FOLDER
    if runs.is_dir():
        yield from sorted(p for p in runs.rglob("*.json") if not p.name.startswith("."))


def process_info() -> dict[str, Any]:
    """This process, so that readers can tell a live run from a killed one: pid and host, and
    on Linux the boot and the process's start time, which tell a reused pid apart."""
    return {"pid": os.getpid(), "host": socket.gethostname(), **_identity(os.getpid())}


def _identity(pid: int) -> dict[str, str]:
    """The boot id and start time (clock ticks since boot) of ``pid``; empty without /proc."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {}
    # fields after the parenthesised command name start at field 3; start time is field 22
    return {"boot": boot, "start": stat.rsplit(")", 1)[1].split()[19]}


def _is_alive(process: dict[str, Any]) -> bool:
    if process.get("host") != socket.gethostname():
        return True  # cannot tell for another machine; trust the record
    pid = process.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False  # no process of its own (0 and -1 would signal a whole group)
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # the pid exists, under another user
    except (OSError, OverflowError):
        return False
    current = _identity(pid)
    return all(current.get(key) == process[key] for key in ("boot", "start") if key in process)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
