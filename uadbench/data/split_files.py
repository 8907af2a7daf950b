"""Split files: the committed (or user-supplied) list of every image with its label and split.

A committed split lives in ``datasets/<dataset>/<version>.csv.gz`` with a manifest
``<version>.json`` holding its SHA-256, its counts and the command that made it. Columns:
``id``, ``label`` (0/1), ``split`` (train/val/test), ``patient`` and any descriptive extras.
Splits are made deterministically from public metadata: patients are ordered by a salted hash
of their id, so that the same metadata always gives the same split and no patient appears in
two splits. ``SplitFileDataset`` is the base of data sets read from a public release with such
a split.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from uadbench.contracts.dataset import SPLITS, Dataset, SplitTableError
from uadbench.data.package_data import package_data
from uadbench.errors import refused_path

SPLITS_DIR_ENV = "UADBENCH_SPLITS_DIR"
SPLIT_FILE_COLUMNS = ("id", "label", "split")
DEFAULT_VERSION = "uadbench-v1"
VAL_FRACTION = 0.1
AVAILABLE = "available"
"""The split option that derives a split of the images present (``available_split``)."""
AVAILABLE_TEST_NORMAL_SHARE = 0.3
AVAILABLE_MAX_TEST_ABNORMAL = 1000


def splits_dir() -> Path:
    """``$UADBENCH_SPLITS_DIR``, else the committed split files: the repository's
    ``datasets/`` folder, installed as the package data ``uadbench.splits``."""
    configured = os.environ.get(SPLITS_DIR_ENV)
    return Path(configured) if configured else package_data("uadbench.splits", "datasets")


def hash_unit(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by ``key`` and ``salt``: a reproducible, order-free shuffle."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def carve_validation(table: pd.DataFrame, fraction: float, salt: str) -> pd.DataFrame:
    """Move the training normals of a ``fraction`` of training patients into ``val``."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    table = table.copy()
    train = table["split"] == "train"
    buckets = table.loc[train, "patient"].map(lambda p: hash_unit(str(p), salt + ":val"))
    table.loc[buckets[buckets < fraction].index, "split"] = "val"
    return table


def pick_test_patients(table: pd.DataFrame, n_normal: int, n_abnormal: int, salt: str) -> set[str]:
    """Patients, in salted-hash order, whose images fill a test set of ``n_normal`` normal and
    ``n_abnormal`` abnormal images without exceeding either count."""
    counts = table.groupby(["patient", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[0, 1], fill_value=0)
    order = sorted(counts.index, key=lambda p: hash_unit(str(p), salt + ":test"))
    chosen, have = set(), np.zeros(2, dtype=int)
    target = np.array([n_normal, n_abnormal])
    for patient in order:
        adds = counts.loc[patient].to_numpy()
        if ((have + adds) <= target).all() and adds.any():
            chosen.add(patient)
            have += adds
            if (have == target).all():
                break
    return chosen


def assign_patient_split(
    table: pd.DataFrame, n_normal: int, n_abnormal: int, salt: str, val_fraction: float
) -> pd.DataFrame:
    """Test patients by ``pick_test_patients``; the normals of all other patients train (with a
    validation share); their abnormal images are dropped (training sees normals only)."""
    test = table["patient"].isin(pick_test_patients(table, n_normal, n_abnormal, salt))
    table = table.assign(split=np.where(test, "test", "train"))
    table = table[test | (table["label"] == 0)]
    return carve_validation(table, val_fraction, salt).reset_index(drop=True)


def available_split(
    labelled: pd.DataFrame, salt: str, val_fraction: float = VAL_FRACTION
) -> pd.DataFrame:
    """The split ``available`` of the labelled images present (``id``, ``label``, ``patient``):
    patients in salted-hash order fill a test set of 30% of the normal images and every
    abnormal image up to 1,000, without exceeding either; the normals of all other patients
    train, 10% of those patients validate; their abnormal images are unused."""
    normals = int((labelled["label"] == 0).sum())
    abnormals = int((labelled["label"] == 1).sum())
    n_normal = round(AVAILABLE_TEST_NORMAL_SHARE * normals)
    n_abnormal = min(AVAILABLE_MAX_TEST_ABNORMAL, abnormals)
    return assign_patient_split(labelled, n_normal, n_abnormal, salt, val_fraction)


def available_version(protocol: str, ids: Iterable[str]) -> str:
    """``<protocol>-available-<hash>``: the split ``available`` named by the ids it was derived
    from, so that two copies holding other images never share a version."""
    digest = hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()
    return f"{protocol}-{AVAILABLE}-{digest[:8]}"


def _csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False, lineterminator="\n").encode()


def split_counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{split: {"normal": n, "abnormal": n}}``."""
    out = {}
    for split in SPLITS:
        part = table[table["split"] == split]
        out[split] = {
            "normal": int((part["label"] == 0).sum()),
            "abnormal": int((part["label"] == 1).sum()),
        }
    return out


def write_split_file(
    table: pd.DataFrame, dataset: str, version: str, made_by: str, folder: Path | None = None
) -> Path:
    """Write ``<folder>/<dataset>/<version>.csv.gz`` and its manifest; return the CSV path."""
    target = (folder or splits_dir()) / dataset
    target.mkdir(parents=True, exist_ok=True)
    data = _csv_bytes(table)
    path = target / f"{version}.csv.gz"
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:  # byte-reproducible
        handle.write(data)
    path.write_bytes(buffer.getvalue())
    manifest = {
        "dataset": dataset,
        "version": version,
        "sha256": hashlib.sha256(data).hexdigest(),
        "images": len(table),
        "patients": int(table["patient"].nunique()) if "patient" in table else None,
        "counts": split_counts(table),
        "made_by": made_by,
    }
    (target / f"{version}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def read_split_file(dataset: str, version: str, folder: Path | None = None) -> pd.DataFrame:
    """A committed split, verified against its manifest's checksum."""
    base = (folder or splits_dir()) / dataset
    path, manifest_path = base / f"{version}.csv.gz", base / f"{version}.json"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".csv.gz") for p in base.glob("*.csv.gz"))
        raise SplitTableError(
            f"no split {version!r} for {dataset!r} in {base}; available: "
            f"{', '.join(known) or 'none'} (or --data-option split_file=PATH for your own CSV)"
        )
    data = gzip.decompress(path.read_bytes())
    manifest = json.loads(manifest_path.read_text())
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise SplitTableError(
            f"split file {path} does not match the checksum in {manifest_path}: it was changed "
            "after it was made; restore it (git checkout) or regenerate it with "
            "datasets/make_splits.py"
        )
    return pd.read_csv(io.BytesIO(data), dtype={"id": str, "patient": str})


def read_csv_with_columns(
    path: Path, columns: tuple[str, ...], kind: str
) -> tuple[pd.DataFrame, bytes]:
    """A user's CSV and its bytes; a ``SplitTableError`` naming what is wrong with it."""
    path = Path(path).expanduser()
    try:
        if not path.is_file():
            raise SplitTableError(f"{kind} {path} does not exist")
        data = path.read_bytes()
    except OSError as error:  # e.g. a name too long, no permission
        raise SplitTableError(f"cannot read {kind} {path}: {refused_path(error)}") from None
    try:
        table = pd.read_csv(io.BytesIO(data), dtype={c: str for c in ("id", "path", "patient")})
    except (ValueError, pd.errors.ParserError) as error:
        raise SplitTableError(f"{kind} {path} is not a readable CSV: {error}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SplitTableError(
            f"{kind} {path} lacks column(s) {', '.join(missing)}; it needs "
            f"{', '.join(columns)} (and optionally patient); found "
            f"{', '.join(map(str, table.columns))}"
        )
    return table, data


def read_user_split(path: Path) -> tuple[pd.DataFrame, str]:
    """A user's split CSV (``id,label,split`` and optionally ``patient``) and its version name."""
    table, data = read_csv_with_columns(path, SPLIT_FILE_COLUMNS, "split file")
    return table, f"custom-{hashlib.sha256(data).hexdigest()[:8]}"


class SplitFileDataset(Dataset):
    """A data set read from its public release with a shared split file.

    Subclasses implement ``detect_layout`` and ``sources``, set ``id_pattern`` to what their
    release's image ids look like, and may override ``special_split`` for split versions read
    from the release itself (e.g. a Med-AD ``data.json``). Every split table is checked against
    ``id_pattern``, so a split that names another data set's images is refused.
    """

    @dataclass(frozen=True)
    class Options:
        split: str = DEFAULT_VERSION
        split_file: str | None = None
        intensity: str = "bits"

    id_pattern: ClassVar[str] = ""
    """A regular expression that every image id of the release matches in full."""

    id_example: ClassVar[str] = ""
    """One such id, for messages."""

    @classmethod
    def is_own_id(cls, image_id: str) -> bool:
        """Whether ``image_id`` has the form of this release's ids."""
        return not cls.id_pattern or re.fullmatch(cls.id_pattern, image_id) is not None

    def check_ids(self, table: pd.DataFrame) -> None:
        """Raise ``SplitTableError`` if ids of ``table`` are not this release's ids."""
        wrong = [i for i in table["id"].astype(str) if not self.is_own_id(i)]
        if wrong:
            raise SplitTableError(
                f"{len(wrong)} of {len(table)} image ids of the {self.name!r} split "
                f"{self.split_version!r} are not {self.name} ids (e.g. {wrong[0]!r}; "
                f"{self.name} ids look like {self.id_example!r}): they name another data set's "
                f"images. Point --data-root at the {self.name} release, or use --dataset folder "
                "for your own images"
            )

    def get_options(self) -> dict[str, Any]:
        return {**super().get_options(), "layout": self.layout_or_none()}

    def layout_or_none(self) -> str | None:
        """The detected release layout, or None when the root is missing or unrecognised."""
        try:
            return self.detect_layout()
        except (SplitTableError, FileNotFoundError):
            return None

    def detect_layout(self) -> str:
        """The name of the layout found at the root; raise with an explanation if none fits."""
        raise NotImplementedError

    def sources(self, table: pd.DataFrame, layout: str) -> Iterable[str]:
        """The file of each image id under the root, for ``layout``."""
        raise NotImplementedError

    def special_split(self, version: str) -> tuple[pd.DataFrame, str] | None:
        """A split read from the release for ``version`` (and its version name), or None.
        ``available``: ``derive_available`` of the labelled images whose file is present."""
        if version != AVAILABLE:
            return None
        assert self.root is not None
        labelled = self.release_labels()
        files = self.sources(labelled, self.detect_layout())
        present = labelled[[(self.root / f).is_file() for f in files]]
        if present.empty:
            raise SplitTableError(
                f"none of the {len(labelled)} labelled images of the {self.name!r} release is "
                f"under {self.root}; point --data-root at the folder holding its images"
            )
        table = self.derive_available(present.reset_index(drop=True))
        return table, available_version(self.protocol(), present["id"])

    def release_labels(self) -> pd.DataFrame:
        """Every image the release labels as this data set's normal or abnormal (``id``,
        ``label``, ``patient``), by the rules of the committed split, from the release's own
        tables under the root."""
        raise SplitTableError(f"{self.name!r} cannot derive a split of the images present")

    def derive_available(self, labelled: pd.DataFrame) -> pd.DataFrame:
        """The split ``available`` of the labelled images present (``available_split``)."""
        return available_split(labelled, f"{self.name}:{AVAILABLE}")

    def protocol(self) -> str:
        """The committed split whose rules a derived split follows (it names the version)."""
        return DEFAULT_VERSION

    @functools.cached_property
    def _special(self) -> tuple[pd.DataFrame, str] | None:
        return self.special_split(self.options.split)

    @property
    def split_version(self) -> str:
        if self.options.split_file:
            return read_user_split(Path(self.options.split_file))[1]
        try:
            special = self._special
        except (SplitTableError, FileNotFoundError):
            return self.options.split  # it cannot be read: split_table says why
        return special[1] if special is not None else self.options.split

    def split_table(self) -> pd.DataFrame:
        self.check_present()
        layout = self.detect_layout()
        if self.options.split_file:
            table = read_user_split(Path(self.options.split_file))[0]
        elif self._special is not None:
            table = self._special[0]
        else:
            table = read_split_file(self.name, self.options.split)
        self.check_ids(table)
        return table.assign(source=list(self.sources(table, layout)))
