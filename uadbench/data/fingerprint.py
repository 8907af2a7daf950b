"""What decides a data set's pixels, as one short hash: the data fingerprint.

A prepared-image cache and a run record are only as good as the images they stand for. The
fingerprint of a data set covers everything that decides the pixels a method gets: the split
table (ids, labels, splits), the data set's options and split version, the preprocessing rules,
and the bytes of every image file it lists (by SHA-256). Images replaced in place, or the same
data set under another root with other files, give another fingerprint; the same files copied
elsewhere, or reached from a data root one level up or down, give the same one. Caches are keyed
by it, and runs record it, so a changed source is a different run.

Records made before 2026-12 hashed the split table with each file's path below the data root,
so the same files reached from another root had another fingerprint; that earlier fingerprint
(``DataSource.earlier``) still names the same data when a finished cell is looked for, so such
a record is never taken for a run on other data, and a run records it beside its own, so that
boards pool the two (``uadbench.running.record_store.pooled``).

With the hashes at hand, a data set that has the option ``allow_train_test_duplicates`` (the
``folder`` reader) has its test files checked against its training and validation files: a
byte-identical copy is a train/test leak, refused, or with the option set a warning the run
records.

Hashing every file on every run would be slow for large releases, so each file's hash is kept
in an index in the cache folder, valid while the file's size, modification and change times,
inode and device are those seen when it was hashed; a second look at a data set only stats its
files. Preparation checks after decoding that no file changed since it was fingerprinted.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from uadbench.atomic import write_atomically
from uadbench.contracts.dataset import (
    TABLE_COLUMNS,
    Dataset,
    SplitTableError,
    table_checksum,
    validate_split_table,
)
from uadbench.contracts.progress import ProgressReporter, SilentProgress
from uadbench.file_names import slug

PREPROCESSING = "gray8-bilinear-v2"
"""Names the decoding and resizing rules; bump it when they change, so caches are rebuilt
(v2: the intensity rule became a data-set option, and palette-colour DICOMs are refused)."""

DUPLICATES_OPTION = "allow_train_test_duplicates"
"""The data-set option that asks for the train/test copy check, and, true, allows copies."""
INDEX_FOLDER = "file-hashes"
CHUNK = 1 << 20


@dataclass(frozen=True)
class DataSource:
    """A data set's validated split table and the fingerprint of what decides its pixels."""

    dataset: Dataset
    table: pd.DataFrame
    split_version: str
    checksum: str
    """SHA-256 of the split table's ``id``, ``source``, ``label`` and ``split`` columns."""
    fingerprint: str
    """16 hex digits naming the split table, options, preprocessing and image bytes."""
    earlier: str | None = None
    """The fingerprint records made before 2026-12 gave the same data under this root."""
    files: tuple[FileState, ...] | None = None
    """Each image file as it was when hashed (None for images that are not files)."""
    warnings: tuple[str, ...] = ()
    """What the run must record about its data (test files that copy training files, allowed)."""

    def changed_files(self) -> list[str]:
        """The image files that are no longer as they were when they were hashed."""
        return [f.path for f in self.files or () if f.now() != f]


@dataclass(frozen=True)
class FileState:
    """A file's path and what ``os.stat`` said of it: size, modification and change times,
    inode and device. A file rewritten in place changes at least one of them."""

    path: str
    stat: tuple[int, ...] | None

    @classmethod
    def of(cls, path: str) -> FileState:
        try:
            s = os.stat(path)
        except OSError:
            return cls(path, None)
        return cls(path, (s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_dev))

    def now(self) -> FileState:
        """The same file's state now."""
        return FileState.of(self.path)


def resolve(
    dataset: Dataset, cache_dir: Path, progress: ProgressReporter | None = None
) -> DataSource:
    """Read and check ``dataset``'s split table and its files, and fingerprint them.

    Raises the data set's ``DataNotFoundError`` or ``SplitTableError`` when the release is
    missing, incomplete or its split is refused (also for a train/test copy, see the module
    docstring): before any image is decoded.
    """
    table = validate_split_table(dataset.split_table(), dataset.name)
    split_version = dataset.split_version
    dataset.check_files(table)
    checksum = table_checksum(table, TABLE_COLUMNS)
    paths = dataset.source_files(table)
    files = None if paths is None else [FileState.of(os.path.abspath(p)) for p in paths]
    hashes = None if files is None else FileHashes(cache_dir, dataset.name).of(files, progress)
    facts = {
        "dataset": dataset.name,
        "split_version": split_version,
        "options": dataset.get_options(),
        "preprocessing": PREPROCESSING,
        "files": hashes,
    }
    fingerprint = _hash({**facts, "table": table_checksum(table), "scheme": 2})
    earlier = _hash({**facts, "table": checksum})
    states = None if files is None else tuple(files)
    warnings = _train_test_copies(dataset, table, hashes)
    return DataSource(
        dataset, table, split_version, checksum, fingerprint, earlier, states, warnings
    )


def _hash(facts: dict[str, Any]) -> str:
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _train_test_copies(
    dataset: Dataset, table: pd.DataFrame, hashes: list[str] | None
) -> tuple[str, ...]:
    """For a data set with the option ``DUPLICATES_OPTION``: raise ``SplitTableError`` if a
    test file has the bytes of a training or validation file, or, the option set, the warning
    that says so."""
    allowed = getattr(dataset.options, DUPLICATES_OPTION, None)
    if allowed is None or hashes is None:
        return ()
    rows = list(zip(hashes, table["source"], table["split"] == "test", strict=True))
    trained = {h: s for h, s, test in rows if not test and not h.startswith("unreadable")}
    copies = [(s, trained[h]) for h, s, test in rows if test and h in trained]
    if not copies:
        return ()
    what = (
        f"{len(copies)} test image(s) have the bytes of a training or validation image (e.g. "
        f"{copies[0][0]} = {copies[0][1]}): a train/test leak"
    )
    if not allowed:
        raise SplitTableError(
            f"data set {dataset.name!r}: {what}. Remove the copies, or pass --data-option "
            f"{DUPLICATES_OPTION}=true to run with a warning on the record"
        )
    return (f"{what}, allowed by {DUPLICATES_OPTION}=true",)


class FileHashes:
    """SHA-256 of files, remembered in ``<cache>/file-hashes/<dataset>.json`` by path."""

    def __init__(self, cache_dir: Path, dataset: str) -> None:
        safe = slug(dataset)
        self.path = Path(cache_dir) / INDEX_FOLDER / f"{safe}.json"

    def _load(self) -> dict[str, Any]:
        try:
            index = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return index if isinstance(index, dict) else {}

    def of(self, files: list[FileState], progress: ProgressReporter | None = None) -> list[str]:
        """The hash of each file, in order; ``unreadable: <reason>`` for a file that cannot be
        read (its decoding will fail the same way)."""
        index, changed, out = self._load(), False, []
        todo = []
        for i, file in enumerate(files):
            if file.stat is None:
                out.append("unreadable: cannot stat it")
                continue
            seen = list(file.stat)
            known = index.get(file.path)
            if isinstance(known, list) and known[:-1] == seen:
                out.append(known[-1])
            else:
                out.append("")
                todo.append((i, file.path, seen))
        if todo:
            reporter = progress or SilentProgress()
            with reporter.task("hashing image files", len(todo)) as bar:
                for i, key, seen in todo:
                    try:
                        out[i] = _sha256(key)
                        index[key] = [*seen, out[i]]
                        changed = True
                    except OSError as error:
                        out[i] = f"unreadable: {error.strerror or error}"
                    bar.advance()
        if changed:
            try:
                text = json.dumps(index, separators=(",", ":"))
                write_atomically(self.path, lambda handle: handle.write(text.encode()))
            except OSError:
                pass  # only a speed-up is lost: the files are hashed again next time
        return out


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
