"""The run records of a results folder (``RecordStore``) and the whole life of one record file
(``Cell``): one JSON file per cell (method, data set, seed, configuration).

Records live under ``<results-dir>/runs/<dataset>/<method>/``; the file name carries the
profile, image size, seed and a hash of the configuration, which identifies the cell. Each file
holds one ``RunRecord`` (``uadbench.running.run_record``), written atomically. A cell's life
(``Cell.run``):

1. claimed (``uadbench.running.claims``): one process at a time works on a cell, on any
   machine that shares the results folder;
2. settled: a forced rerun that finished but was killed before its record replaced the cell's
   (``<name>.rerun.json``) replaces it now;
3. looked up: the cell's ``ok`` record on this data means done (skipped unless forced); an
   ``ok`` record of other data (another data fingerprint) is set aside as
   ``<name>.data-<fingerprint>.json`` and comes back when that data does;
4. written before work: a ``running`` record (a forced rerun's beside the finished record), so
   a run killed with SIGKILL still leaves a trace (``interrupted``);
5. finished: the work fills the record, which replaces the running one (``ok``, or ``failed``
   with the error); a finished rerun then replaces the cell's record, which is never replaced
   by anything less. A final write the disk refuses saves the record in another folder
   (``UNSAVED_FOLDERS``) and leaves a small failure record saying where.

Reading a file checks it (its stored metrics against its own scores too) and upgrades older
schemas (``RunRecord.from_json``); a newer one is refused, never overwritten. A file under
``runs/`` that cannot be read is never dropped silently: ``RecordStore.records`` returns it
beside the readable records (``RecordSet``), read through the folder's index
(``uadbench.running.record_index``), and every command names it (``uadbench.cli.boards``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from uadbench.atomic import interrupts_deferred, unwritable, write_atomically
from uadbench.errors import RecordError, UserError, one_line
from uadbench.file_names import slug
from uadbench.running.claims import CellBusyError, claim
from uadbench.running.claims import end as end_claim
from uadbench.running.kept_maps import check_localisation, write_maps
from uadbench.running.run_record import NewerRecordError, RunConfig, RunRecord

RUNS_FOLDER = "runs"
RERUN_SUFFIX = ".rerun"
UNSAVED_FOLDERS = (Path(tempfile.gettempdir()), Path.home())
"""Where a record that could not be written to the results folder is saved instead."""


class ResultsDirError(UserError, OSError):
    """The results directory cannot be written."""


@dataclass(frozen=True)
class Outcome:
    """What became of a cell: ``ok``, ``failed``, ``skipped`` (already recorded) or ``busy``
    (another process is running it, and ``record`` is None)."""

    status: str
    path: Path
    record: RunRecord | None
    busy_message: str = ""

    @property
    def message(self) -> str:
        """The error of a failed or busy run."""
        return self.record.message if self.record else self.busy_message


def place(results_dir: Path, config: RunConfig, fingerprints: Iterable[str | None]) -> Cell:
    """The cell of ``config`` in ``results_dir``, once records can be written there and no
    newer or unusable record stands in its place (``Cell.check_place``)."""
    store = RecordStore(results_dir)
    store.check_writable()
    cell = store.cell(config)
    store.check_writable(cell.path.parent)
    cell.check_place(fingerprints)
    return cell


class RecordStore:
    """The records of one results folder."""

    def __init__(self, results_dir: Path) -> None:
        self.folder = Path(results_dir)

    def cell(self, config: RunConfig) -> Cell:
        """The cell of ``config``, its record file named by the configuration."""
        name = f"{config.profile}-{config.image_size}px-seed{config.seed}-{config.hash}"
        return Cell(self.folder / RUNS_FOLDER / slug(config.dataset) / slug(config.method) / name)

    def check_writable(self, folder: Path | None = None) -> None:
        """Raise ``ResultsDirError`` unless records can be written in ``folder`` (the results
        folder by default)."""
        folder = folder or self.folder
        if (why := unwritable(folder)) is not None:
            raise ResultsDirError(
                f"cannot write run records in {folder}: {why}; make it writable or choose "
                "another --results-dir"
            )

    def records(self) -> RecordSet:
        """Every record under ``runs/`` (without its score variants: ``RunRecord.partial``)
        and the files there that cannot be read, through the folder's index."""
        from uadbench.running.record_index import RecordIndex

        found = RecordSet(folder=self.folder)
        paths = list(_record_files(self.folder))
        index = RecordIndex(self.folder)
        try:
            for path, read in zip(paths, index.read(paths, read_record), strict=True):
                if isinstance(read, str):
                    found.unreadable.append(UnreadableRecord(path, read))
                else:
                    found.records.append(read)
        finally:
            index.close()
        found.records = pooled(found.records)
        return found


@dataclass(frozen=True)
class Cell:
    """One cell's record file, ``<stem>.json``, and its life (see the module docstring)."""

    stem: Path
    """The record's path without ``.json``."""

    @property
    def path(self) -> Path:
        """The cell's record."""
        return self.stem.with_name(f"{self.stem.name}.json")

    @property
    def rerun(self) -> Path:
        """Where a forced rerun works until it has finished."""
        return self.stem.with_name(f"{self.stem.name}{RERUN_SUFFIX}.json")

    def aside(self, fingerprint: str | None) -> Path:
        """Where the cell's finished record of other data (``fingerprint``) is kept."""
        return self.stem.with_name(f"{self.stem.name}.data-{fingerprint or 'unknown'}.json")

    def check_place(self, fingerprints: Iterable[str | None] = ()) -> None:
        """Raise a ``RecordError`` when a newer or unusable record stands where this cell's
        records go (the cell's, its rerun's, or the one kept for these data)."""
        kept = [self.aside(f) for f in fingerprints if f]
        for taken in (self.path, self.rerun, *kept):
            existing_record(taken)

    def run(
        self,
        record: RunRecord,
        fingerprints: tuple[str, ...],
        work: Callable[[RunRecord], None],
        force: bool = False,
    ) -> Outcome:
        """The whole life of one run of this cell on the data named by ``fingerprints`` (the
        current one first): skipped when done (unless ``force``), else ``record`` (``running``,
        its data set) written before ``work`` fills it, then finished. ``busy`` when another
        process is running the cell."""
        try:
            with claim(self.path) as held:
                self._settle()
                current = self._take_finished(fingerprints)
                if current is not None and not force:
                    return Outcome("skipped", self.path, current)
                path = self.rerun if current is not None else self.path
                if current is not None:
                    record.rerun_of = self.path.name
                _write_before_work(path, record)
                record = self._worked(record, work, path)
                if not held.ours():  # taken over while it worked: the new owner's cell now
                    why = "the cell was taken over by another process while this run worked"
                    # the record it took over is the other process's to finish
                    return self._unsaved(path, record, why, write_in_place=False)
                return self._finish(path, record)
        except CellBusyError as error:
            return Outcome("busy", self.path, None, str(error))

    def fail(
        self, record: RunRecord, message: str, trace: str | None = None, ended: bool = False
    ) -> Outcome:
        """Record a run of this cell as failed before its work (a data problem, a dead
        worker), beside the cell's finished record if it has one; ``ended``: the caller knows
        the cell's last owner has ended (its claim is ended first)."""
        if ended:
            end_claim(self.path)
        try:
            with claim(self.path):
                self._settle()
                record.fail(message, trace)
                record.finished_at = now()
                path = self.path
                if is_ok(existing_record(self.path)):
                    path, record.rerun_of = self.rerun, self.path.name
                _write_before_work(path, record)
                return Outcome("failed", path, record)
        except CellBusyError as error:
            return Outcome("busy", self.path, None, str(error))

    def finished(self, fingerprints: tuple[str, ...]) -> RunRecord | None:
        """The cell's ``ok`` record on the data named by ``fingerprints``, if there is one."""
        for path in (self.path, *(self.aside(f) for f in fingerprints if f)):
            record = existing_record(path)
            if is_done(record, fingerprints):
                return record
        return None

    def _settle(self) -> None:
        """Finish what a killed forced rerun began: its finished record replaces the cell's."""
        if is_ok(existing_record(self.rerun)):
            os.replace(self.rerun, self.path)

    def _take_finished(self, fingerprints: tuple[str, ...]) -> RunRecord | None:
        """The cell's ``ok`` record on these data, put in place; an ``ok`` record of other data
        is set aside first (kept, never overwritten)."""
        record = existing_record(self.path)
        if is_ok(record) and not is_done(record, fingerprints):
            self._set_aside(record.fingerprint)
            record = None
        for fingerprint in (f for f in fingerprints if f):
            kept = self.aside(fingerprint)
            if not is_ok(record) and is_ok(existing_record(kept)):
                os.replace(kept, self.path)  # the finished record of these data comes back
                record = existing_record(self.path)
        return record if is_ok(record) else None

    def _set_aside(self, fingerprint: str | None) -> None:
        """Move the cell's finished record of other data beside it, never over a kept one."""
        target, number = self.aside(fingerprint), 1
        while target.exists():
            number += 1
            target = target.with_name(f"{self.aside(fingerprint).stem}-{number}.json")
        os.rename(self.path, target)

    def _worked(
        self, record: RunRecord, work: Callable[[RunRecord], None], path: Path
    ) -> RunRecord:
        """``record`` filled by ``work``: ``ok``, or ``failed`` with the error. Ctrl-C and a
        ``SystemExit`` (Lightning turns SIGTERM into one) are recorded as failures, the record
        written to ``path``, and stop the command."""
        try:
            work(record)
            record.status = "ok"
        except KeyboardInterrupt:
            record.fail("interrupted by the user (Ctrl-C)")
            self._finish(path, record)
            raise
        except SystemExit as stop:
            record.fail(f"stopped before the end (SystemExit {stop.code!r}, a signal?)")
            self._finish(path, record)
            raise SystemExit(f"uadbench: run stopped before the end; see {path}") from stop
        except Exception as error:
            record.fail(f"{type(error).__name__}: {one_line(str(error))}", traceback.format_exc())
        return record

    def _finish(self, path: Path, record: RunRecord) -> Outcome:
        """Write the finished ``record`` to ``path``; a finished rerun then replaces the cell's
        earlier record."""
        record.finished_at = now()
        with interrupts_deferred():  # a Ctrl-C now stops the command after the record is written
            try:
                write_record(path, record)
            except OSError as error:
                return self._unsaved(path, record, str(error.strerror or error))
            if record.ok and path != self.path:
                os.replace(path, self.path)
                path = self.path
        return Outcome(record.status, path, record)

    def _unsaved(
        self, path: Path, record: RunRecord, why: str, write_in_place: bool = True
    ) -> Outcome:
        """The final record could not be written (``why``: a full disk, a cell taken over):
        save it elsewhere if any folder has room, and (``write_in_place``) leave a small
        failure record in its place that says where."""
        saved = None
        stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        for folder in UNSAVED_FOLDERS:
            name = f"uadbench-unsaved-{self.path.parent.name}-{self.stem.name}-{stamp}.json"
            try:
                write_record(folder / name, record)
            except OSError:
                continue
            saved = folder / name
            break
        auroc = (record.metrics or {}).get("auroc")
        result = f"AUROC {100 * auroc:.1f}" if record.ok and auroc is not None else record.status
        then = (
            f"free space, then move it to {self.path}"
            if write_in_place
            else "the cell's record is the other process's"
        )
        message = (
            f"the run ended ({result}) but its record could not be written to {path}: {why}; "
            + (
                f"the whole record was saved to {saved}: {then}"
                if saved
                else "no other folder had room either, so this message is all that is left of it"
            )
        )
        small = dataclasses.replace(
            record, test=None, val=None, history={}, metrics=None, metrics_unsaved=record.metrics
        )
        small.fail(message)
        small.unsaved_record = str(saved) if saved else None
        if write_in_place:
            with contextlib.suppress(OSError):  # else the running record stays; the message says
                write_record(path, small)
        return Outcome("failed", path, small)


def _write_before_work(path: Path, record: RunRecord) -> None:
    """Write a record that holds no result yet; a disk that refuses it is the user's to fix."""
    try:
        write_record(path, record)
    except OSError as error:
        raise ResultsDirError(
            f"cannot write the run record {path}: {error.strerror or error}; free space there "
            "or choose another --results-dir"
        ) from None


def is_done(record: RunRecord | None, fingerprints: tuple[str, ...]) -> bool:
    """Whether ``record`` is a finished run on exactly these data (any of the fingerprints
    they have had): the one test of a done cell."""
    return is_ok(record) and record.fingerprint in fingerprints


def is_ok(record: RunRecord | None) -> bool:
    """Whether ``record`` is a finished run (on any data)."""
    return record is not None and record.ok


def now() -> str:
    """The UTC time as records write it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def results_dir_of(path: Path) -> Path | None:
    """The results folder holding the record file ``path`` (``<it>/runs/<data set>/<method>/``);
    None for a record kept anywhere else (a copy, one saved when the disk was full)."""
    parents = Path(path).parents
    return parents[3] if len(parents) > 3 and parents[2].name == RUNS_FOLDER else None


def write_record(path: Path, record: RunRecord) -> None:
    """Write ``record`` to ``path`` atomically: readers see the old file or the whole new one."""
    if record.partial:
        raise ValueError(f"{record.path} was read without its score variants: not written")
    write_maps(path, record)  # first: the record names their file
    text = json.dumps(record.to_json(), indent=1, allow_nan=False, default=_json_default)
    write_atomically(path, text.encode())


def read_record(path: Path) -> RunRecord:
    """One record, checked; ``NewerRecordError`` for a newer schema, ``ValueError`` if it is
    not a run record or lacks what its status requires."""
    record = RunRecord.from_json(json.loads(Path(path).read_text()), Path(path))
    check_localisation(record)
    return record


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


@dataclass(frozen=True)
class UnreadableRecord:
    """A file under ``runs/`` that is not a readable run record, and why."""

    path: Path
    reason: str


class UnreadableRecordsError(RecordError):
    """Record files that could not be read were left out of an output."""


@dataclass
class RecordSet:
    """The readable records of one or more results folders, and the files that could not be
    read."""

    records: list[RunRecord] = field(default_factory=list)
    unreadable: list[UnreadableRecord] = field(default_factory=list)
    folder: Path | None = None
    """The (first) results folder read, whose index keeps values derived from the records."""
    _index: Any = field(default=None, repr=False, compare=False)

    def memo(self, kind: str, content: Iterable[bytes], compute: Callable[[], Any]) -> Any:
        """``compute()``, kept in the folder's index under what it was computed from
        (``RecordIndex.memo``); computed each time without a folder."""
        if self.folder is None:
            return compute()
        if self._index is None:
            from uadbench.running.record_index import RecordIndex

            self._index = RecordIndex(self.folder)
        return self._index.memo(kind, content, compute)

    def only(self, datasets: Iterable[str]) -> RecordSet:
        """The records of these data sets (all when none are named)."""
        wanted = set(datasets)
        if not wanted:
            return self
        chosen = [r for r in self.records if r.config.dataset in wanted]
        return RecordSet(chosen, self.unreadable, self.folder)

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


def pooled(records: list[RunRecord]) -> list[RunRecord]:
    """``records`` with those made before 2026-12 shown under the current fingerprint of their
    images, wherever a later record of the same images names both (``earlier_fingerprint``):
    one row for one set of images. Only read copies (``partial``) are renamed so; the files
    keep what they say."""
    current = {
        r.data.earlier_fingerprint: r.data.fingerprint
        for r in records
        if r.data is not None and r.data.earlier_fingerprint
    }
    out = []
    for record in records:
        fingerprint = record.fingerprint
        if record.partial and fingerprint in current and current[fingerprint] != fingerprint:
            data = dataclasses.replace(record.data, fingerprint=current[fingerprint])
            record = dataclasses.replace(record, data=data, path=record.path, partial=True)
        out.append(record)
    return out


def scan_records(results_dir: Path) -> RecordSet:
    """``RecordStore(results_dir).records()``."""
    return RecordStore(results_dir).records()


def scan_folders(results_dirs: Iterable[Path]) -> RecordSet:
    """The records of each folder, together: one board over several results folders."""
    folders = list(dict.fromkeys(Path(d) for d in results_dirs))
    found = RecordSet(folder=folders[0] if folders else None)
    for folder in folders:
        one = RecordStore(folder).records()
        found.records += one.records
        found.unreadable += one.unreadable
    found.records = pooled(found.records)
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
