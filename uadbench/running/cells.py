"""A cell's records: whether it is done, and keeping its finished record through forced reruns
and runs on other data.

A cell is done when its record is ``ok`` on exactly the data of this run (the same data
fingerprint): ``is_done`` is the one test, used by runs and sweeps alike. A finished record of
other data is set aside beside the cell's (``<name>.data-<fingerprint>.json``) and comes back
when that data does; a forced rerun's finished record (``<name>.rerun.json``) replaces the
cell's even when the rerun was killed just after finishing.
"""

from __future__ import annotations

import os
from pathlib import Path

from uadbench.data.fingerprint import DataSource
from uadbench.running.planning import PlannedRun
from uadbench.running.records import existing_record, rerun_path, set_aside_path
from uadbench.running.run_record import RunRecord


def is_done(record: RunRecord | None, source: DataSource) -> bool:
    """Whether ``record`` is a finished run on exactly this data: the one test of a done cell."""
    return record is not None and record.ok and record.fingerprint == source.fingerprint


def finished_record(run: PlannedRun, source: DataSource) -> RunRecord | None:
    """The run's ``ok`` record on exactly this data, if there is one."""
    for path in (run.path, set_aside_path(run.path, source.fingerprint)):
        record = existing_record(path)
        if is_done(record, source):
            return record
    return None


def settle(run: PlannedRun) -> None:
    """Finish what a killed forced rerun began: its finished record replaces the cell's."""
    rerun = rerun_path(run.path)
    if is_ok(existing_record(rerun)):
        os.replace(rerun, run.path)


def take_finished(run: PlannedRun, source: DataSource) -> RunRecord | None:
    """The cell's ``ok`` record on this data, put in place; an ``ok`` record of other data is
    set aside first (kept, never overwritten)."""
    record = existing_record(run.path)
    if is_ok(record) and not is_done(record, source):
        set_aside(run.path, record.fingerprint)
        record = None
    if not is_ok(record):
        kept = set_aside_path(run.path, source.fingerprint)
        if is_ok(existing_record(kept)):
            os.replace(kept, run.path)  # the finished record of this data comes back
            record = existing_record(run.path)
    return record if is_ok(record) else None


def set_aside(path: Path, fingerprint: str | None) -> None:
    """Move the finished record ``path`` of other data beside the cell, never over a kept one."""
    target = set_aside_path(path, fingerprint)
    number = 1
    while target.exists():
        number += 1
        target = target.with_name(f"{set_aside_path(path, fingerprint).stem}-{number}.json")
    os.rename(path, target)


def is_ok(record: RunRecord | None) -> bool:
    """Whether ``record`` is a finished run (on any data)."""
    return record is not None and record.ok
