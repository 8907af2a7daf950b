"""A cache of the run records of a results folder, already read and checked, so that boards of
thousands of records are read in a second.

Reading a record file means parsing its JSON (every score variant of every test image) and
checking its metrics against its own scores; for 5,000 records that takes a minute. The index,
``<results-dir>/.uadbench-index.sqlite3`` (SQLite), keeps each record file's parts that boards
read, keyed by the file's path, size, modification and change times and inode: a file changed,
replaced or new since is read and checked again, a file gone is dropped. Kept per record:
everything but its score variants (``RunRecord.partial``), the score arrays as bytes, and test
and validation image ids once per list (they are shared by every run on a test set). Values
derived from records (a row's per-seed metrics, bootstrap interval and p-value against the best
row, its ROC curves and score densities) are kept beside them by the content they were computed
from (``memo``), so that a board of a thousand rows is not computed again each time.

The index is only ever a copy: a record file is the truth, deleting the index loses nothing,
and an index that cannot be opened or written (a read-only folder, a broken file, a file
system without SQLite's locks) is passed by, reading the files as without it.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from uadbench.running.run_record import SCHEMA, RunRecord

INDEX_NAME = ".uadbench-index.sqlite3"
INDEX_VERSION = f"2:{SCHEMA}"
"""Bumped when what is kept, or how a record is checked, changes: an older index is rebuilt."""
TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS records (path TEXT PRIMARY KEY, stat TEXT, error TEXT,"
    " record TEXT, test_ids TEXT, val_ids TEXT, labels BLOB, scores BLOB, val_scores BLOB)",
    "CREATE TABLE IF NOT EXISTS ids (key TEXT PRIMARY KEY, ids TEXT)",
    "CREATE TABLE IF NOT EXISTS derived (key TEXT PRIMARY KEY, value TEXT)",
)


class RecordIndex:
    """The index of one results folder (a no-op stand-in where it cannot be used)."""

    def __init__(self, results_dir: Path) -> None:
        self.path = Path(results_dir) / INDEX_NAME
        self._db: sqlite3.Connection | None = None
        self._ids: dict[str, list[str]] = {}
        self._inherited: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        with suppress(sqlite3.Error, OSError):
            self._db = self._open()

    def _in_this_process(self) -> None:
        """A forked process (a figure's worker) opens the index anew: SQLite forbids using a
        connection made before the fork, and closing it there too (it is kept, unused)."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        if self._db is not None:
            self._inherited.append(self._db)
            self._db = None
            with suppress(sqlite3.Error, OSError):
                self._db = self._open()

    def _open(self) -> sqlite3.Connection | None:
        if not self.path.parent.is_dir():
            return None
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            for table in TABLES:
                db.execute(table)
            found = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            if found is None or found[0] != INDEX_VERSION:
                db.execute("BEGIN IMMEDIATE")
                for table in ("records", "ids", "derived"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (INDEX_VERSION,))
                db.execute("COMMIT")
        except sqlite3.OperationalError:  # locked, or not writable here: pass it by
            db.close()
            return None
        except sqlite3.DatabaseError:  # not a database (a broken file): made anew next time
            db.close()
            self._set_aside()
            return None
        return db

    def _set_aside(self) -> None:
        """A broken index is moved aside (never read again) and made anew next time."""
        with suppress(OSError):
            os.replace(self.path, self.path.with_suffix(".broken"))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def read(
        self, paths: list[Path], read_file: Callable[[Path], RunRecord]
    ) -> list[RunRecord | str]:
        """The record of each of ``paths`` without its score variants (or why it cannot be
        read), from the index where the file is as indexed, else by ``read_file`` (then
        indexed)."""
        stats = {str(p): file_stamp(p) for p in paths}
        self._in_this_process()
        kept = self._kept(stats)
        out: list[RunRecord | str] = []
        fresh = []
        for path in paths:
            key = str(path)
            if key in kept:
                out.append(kept[key])
                continue
            try:
                record = read_file(path)
            except OSError as error:  # may pass (a network file system's hiccup): not kept
                out.append(f"{type(error).__name__}: {error}")
                continue
            except (ValueError, TypeError) as error:  # the file's content: kept until it changes
                reason = f"{type(error).__name__}: {error}"  # NewerRecordError is a ValueError
                out.append(reason)
                fresh.append((key, stats[key], reason, None))
                continue
            out.append(_without_variants(record))
            fresh.append((key, stats[key], None, record))
        self._store(fresh)
        self._prune(stats)
        return out

    def _kept(self, stats: dict[str, str | None]) -> dict[str, Any]:
        if self._db is None:
            return {}
        found: dict[str, Any] = {}
        try:
            rows = self._db.execute("SELECT * FROM records").fetchall()
            with paused_collector():
                for path, stat, error, *parts in rows:
                    if stat is None or stats.get(path) != stat:
                        continue
                    found[path] = error if error is not None else self._record(Path(path), *parts)
        except (sqlite3.Error, ValueError, KeyError, TypeError):
            self._forget()
            return {}
        return found

    def _record(
        self,
        path: Path,
        record: str,
        test_ids: str | None,
        val_ids: str | None,
        labels: bytes | None,
        scores: bytes | None,
        val_scores: bytes | None,
    ) -> RunRecord:
        data = _loads(record)
        if test_ids is not None:
            data["test"] |= {
                "ids": self._id_list(test_ids),
                "labels": np.frombuffer(labels, np.int8).tolist(),
                "scores": np.frombuffer(scores, np.float64).tolist(),
            }
        if val_ids is not None:
            data["val"] = {
                "ids": self._id_list(val_ids),
                "scores": np.frombuffer(val_scores, np.float64).tolist(),
            }
        return RunRecord.from_json(data, path, checked=False, partial=True)

    def _id_list(self, key: str) -> list[str]:
        if key not in self._ids:
            assert self._db is not None
            [(text,)] = self._db.execute("SELECT ids FROM ids WHERE key=?", (key,)).fetchall()
            self._ids[key] = _loads(text)
        return self._ids[key]

    def _store(self, fresh: list[tuple[str, str | None, str | None, RunRecord | None]]) -> None:
        if self._db is None or not fresh:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for path, stat, error, record in fresh:
                parts = _parts(record, self._db) if record is not None else (None,) * 6
                self._db.execute(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (path, stat, error, *parts),
                )
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._forget()

    def _prune(self, stats: dict[str, str | None]) -> None:
        """Drop the entries of files under this folder that are gone."""
        if self._db is None:
            return
        try:
            indexed = {p for (p,) in self._db.execute("SELECT path FROM records")}
            gone = [(p,) for p in indexed - set(stats)]
            if gone:
                self._db.executemany("DELETE FROM records WHERE path=?", gone)
        except sqlite3.Error:
            self._forget()

    def _forget(self) -> None:
        """Stop using an index that failed (it is a copy: the files are read instead)."""
        self.close()

    def memo(self, kind: str, content: Iterable[bytes], compute: Callable[[], Any]) -> Any:
        """``compute()``, kept under ``kind`` and the hash of ``content`` (what it is computed
        from): a value derived from records, made once."""
        digest = hashlib.sha256(kind.encode())
        for part in content:
            digest.update(hashlib.sha256(part).digest())
        key = digest.hexdigest()
        self._in_this_process()
        if self._db is not None:
            with suppress(sqlite3.Error):
                found = self._db.execute("SELECT value FROM derived WHERE key=?", (key,))
                if (row := found.fetchone()) is not None:
                    return _loads(row[0])
        value = compute()
        if self._db is not None:
            with suppress(sqlite3.Error, TypeError):
                self._db.execute(
                    "INSERT OR REPLACE INTO derived VALUES (?, ?)", (key, json.dumps(value))
                )
        return value


@contextmanager
def paused_collector() -> Iterator[None]:
    """Python's cyclic garbage collector off while thousands of records are made from the index,
    and what was made then left out of its later passes (``gc.freeze``): its passes over their
    millions of containers, none of which forms a cycle, took a quarter of a warm
    ``leaderboard`` on 5,000 records. Reference counting still frees them; each command of the
    command line hands them back to the collector as it ends (``gc.unfreeze``)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _loads(text: str) -> Any:
    """JSON read by orjson (a warm board on 5,000 records parses 8,000 texts: a quarter of a
    second less than the standard library), or by the standard library where orjson refuses
    what ``json.dumps`` wrote (NaN and infinities)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _without_variants(record: RunRecord) -> RunRecord:
    """``record`` as the index gives it back: without its score variants (``partial``)."""
    test = dataclasses.replace(record.test, score_variants={}) if record.test else None
    return dataclasses.replace(record, test=test, path=record.path, partial=True)


def file_stamp(path: Path) -> str | None:
    """What tells a changed file: size, modification and change times (ns; the change time is
    set by the system on every write, whatever the modification time is set back to) and
    inode; None if it is gone."""
    try:
        s = os.stat(path)
    except OSError:
        return None
    return f"{s.st_size}:{s.st_mtime_ns}:{s.st_ctime_ns}:{s.st_ino}"


def _parts(record: RunRecord, db: sqlite3.Connection) -> tuple[Any, ...]:
    """The columns that keep ``record``: its JSON without the arrays and variants, the ids'
    keys, and the arrays as bytes."""
    data = record.to_json()
    test, val = data.get("test"), data.get("val")
    test_ids = val_ids = labels = scores = val_scores = None
    if test is not None:
        test_ids = _keep_ids(db, test.pop("ids"))
        labels = np.asarray(test.pop("labels"), np.int8).tobytes()
        scores = np.asarray(test.pop("scores"), np.float64).tobytes()
        test["score_variants"] = {}
    if val is not None:
        val_ids = _keep_ids(db, data.pop("val")["ids"])
        val_scores = np.asarray(val["scores"], np.float64).tobytes()
    return json.dumps(data), test_ids, val_ids, labels, scores, val_scores


def _keep_ids(db: sqlite3.Connection, ids: list[str]) -> str:
    text = json.dumps(ids)
    key = hashlib.sha256(text.encode()).hexdigest()
    db.execute("INSERT OR IGNORE INTO ids VALUES (?, ?)", (key, text))
    return key
