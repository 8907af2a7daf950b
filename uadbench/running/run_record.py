"""The run record: what one run of one method on one data set for one seed was, and gave.

``RunRecord`` is the one type every consumer reads (the runner writes it; the leaderboard,
exports, figures, report and sweeps read it). Each fact has one home: the run's identity is its
``RunConfig`` (the image size lives in the method's ``params``), the images it used are
``data``, its scores ``test`` and ``val``. Liveness is computed (``state``), never written.

Schema ``uadbench.run/3`` is written. Versions 1 and 2 are read and upgraded explicitly: their
top-level copies of the configuration (method, dataset, seed, ...), their ``config_hash`` and
their ``config.image_size`` must agree with the configuration and are then dropped. A newer
version is refused. ``schema_table()`` documents every field (docs/RUN_RECORD.md).

Reading a finished record checks that every metric it stores (of the reported score and of each
variant) is what its own test labels and scores give, and that its AUROC interval holds its
AUROC; one that disagrees was changed after its run and is refused (``RecordMismatchError``).

Over 300 lines on purpose: the whole schema (every field, its documentation, the upgrades and
the checks) is in this one file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from uadbench.errors import RecordError
from uadbench.statistics.metrics import ranked_metrics

if TYPE_CHECKING:
    from uadbench.running.kept_maps import KeptMaps

SCHEMA_NAME = "uadbench.run"
SCHEMA_VERSION = 4
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
STATUSES = ("running", "ok", "failed")
REQUIRED_METRICS = ("auroc", "average_precision")
"""What every finished record of every schema holds; a metric added to the table later is not
required of older records (the board computes it from their scores)."""
COPIED_TO_TOP = ("method", "dataset", "split_version", "profile", "image_size", "seed", "label_use")
"""What records before version 3 copied from their config to the top level."""
CHECKED_METRICS = ("auroc", "average_precision")
"""The stored metrics that reading a record recomputes from its own labels and scores (of the
reported score and of every variant): every metric a run stores (``METRICS``, not at a
threshold) must be here."""
METRIC_TOLERANCE = 1e-9
"""How far a stored metric may lie from the one recomputed: rounding in sums of the test set's
terms (below 1e-12 for a million images) stays far under it, and any edit a board or ``show``
could display (0.1 point) far above it."""


class NewerRecordError(RecordError, ValueError):
    """A record written by a newer uadbench, whose schema this one does not know."""


class RecordMismatchError(RecordError, ValueError):
    """A finished record whose stored metrics are not those of its own test labels and scores:
    it was changed after its run."""


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass(frozen=True)
class RunConfig:
    """What defines a run (its cell): everything but the seed is shared by a leaderboard row."""

    method: str = _doc("registered name of the method")
    profile: str = _doc("the method's profile the parameters started from")
    params: dict[str, Any] = _doc("every parameter of the method, ``image_size`` among them")
    dataset: str = _doc("registered name of the data set")
    dataset_options: dict[str, Any] = _doc("the data set's options (split, layout, ...)")
    split_version: str = _doc("the split the images were drawn from (e.g. ``medad``)")
    seed: int = _doc("the seed of every random generator of the run")
    label_use: str | None = _doc("how the method used test labels; null: it never saw one")
    skip_unreadable: bool = _doc("unreadable images were left out instead of failing the run")
    method_version: int = _doc("the method's version; bumped when its results change", default=1)

    @property
    def image_size(self) -> int:
        """The side in pixels of the images the method got."""
        return int(self.params["image_size"])

    def essentials(self) -> dict[str, Any]:
        """What names the run for a person: data set, split, method, profile, size, seed."""
        return {
            "dataset": self.dataset,
            "split_version": self.split_version,
            "method": self.method,
            "profile": self.profile,
            "image_size": self.image_size,
            "seed": self.seed,
        }

    def identity(self) -> dict[str, Any]:
        """The dictionary whose hash names the cell (as every schema version hashed it)."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "method_version"
        }
        out["image_size"] = self.image_size
        if self.method_version != 1:  # version 1 is implied, so older records keep their hash
            out["method_version"] = self.method_version
        return out

    @property
    def hash(self) -> str:
        """A short hash of the identity: it names the record file."""
        return config_hash(self.identity())

    def row_key(self, fingerprint: str | None) -> str:
        """What identifies the leaderboard row: the identity without the seed, and the data."""
        config = {k: v for k, v in self.identity().items() if k != "seed"}
        return config_hash({**config, "data": fingerprint} if fingerprint else config)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.method_version == 1:
            del out["method_version"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        return _construct(cls, data, "config")


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of a configuration dictionary (every key and value)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class DataUsed:
    """The images a run used."""

    checksum: str = _doc("SHA-256 of the split table (ids, sources, labels, splits)")
    fingerprint: str | None = _doc("what decides the pixels (null in schema 1)", default=None)
    earlier_fingerprint: str | None = _doc(
        "the fingerprint records made before 2026-12 gave these images from this data root (the "
        "files' paths below it were hashed too): boards pool such records with this one",
        default=None,
    )
    root: str | None = _doc(
        "the data set's folder, resolved (null for generated data and older records)", default=None
    )
    data_root: str | None = _doc(
        "``--data-root`` as the user gave it (null: the default, or an older record)", default=None
    )
    cache: str | None = _doc("folder of the prepared arrays", default=None)
    n_train: int | None = _doc("training normals", default=None)
    n_val: int | None = _doc("validation normals", default=None)
    n_test: int | None = _doc("test images", default=None)
    skipped: list[dict[str, Any]] | None = _doc(
        "unreadable images left out (null until the images are prepared)", default=None
    )
    left_out: list[dict[str, str]] | None = _doc(
        "the files under the root that the data set does not use, each with ``file`` and "
        "``why`` (null: its reader reads only the files its split lists, or an older record)",
        default=None,
    )


@dataclass
class TestScores:
    """The test images, their labels and the method's scores, in one order."""

    ids: list[str] = _doc("image ids")
    labels: list[int] = _doc("0 normal, 1 abnormal")
    scores: list[float] = _doc("the reported score of each image")
    reported_score: str | None = _doc("the name of the reported variant", default=None)
    score_variants: dict[str, list[float]] = _doc(
        "every score the method gave, by name", default_factory=dict
    )


@dataclass
class ValScores:
    """The validation normals' reported scores (they set the operating point)."""

    ids: list[str] = _doc("image ids")
    scores: list[float] = _doc("reported score of each image")


@dataclass
class Localisation:
    """Where the method's anomaly maps point, against the data set's lesion truth (finished runs
    of a method with maps on a data set with truth)."""

    truth: str = _doc("``mask`` (lesion outlines) or ``boxes`` (rectangles readers drew)")
    side: int = _doc(
        "pixels a side of the kept maps and of the truth they were scored against (the run's "
        "size, or ``MAP_SIDE`` below it)"
    )
    maps: str = _doc(
        "the maps' file, relative to the record's folder: float16 ``(test images, side, side)`` "
        "in test order, compressed NumPy, named by its SHA-256"
    )
    metrics: dict[str, float] = _doc(
        "masks: ``pixel_auroc``, ``aupro``, and where the validation normals' maps are kept "
        "``dice`` at their ``pixel_threshold``; boxes: ``hit_rate``, ``mass_inside`` and "
        "``uniform_share`` (a uniform map's both); ``n_images`` scored"
    )


@dataclass
class RunError:
    """Why a run failed."""

    message: str = _doc("one line for the user")
    traceback: str | None = _doc("the traceback of a bug, null for a user's error", default=None)


@dataclass
class RunRecord:
    """One run: its configuration, the data it used, what it gave, and how it went."""

    status: str = _doc("``running``, ``ok`` or ``failed``")
    config: RunConfig = _doc("what defines the run (see RunConfig)")
    started_at: str = _doc("UTC time the run started (ISO 8601)")
    changed_params: dict[str, Any] = _doc(
        "the parameters that differ from the profile's", default_factory=dict
    )
    process: dict[str, Any] = _doc("pid, host and start of the process", default_factory=dict)
    versions: dict[str, str] = _doc("versions of Python and the packages", default_factory=dict)
    code: dict[str, Any] = _doc(
        "git commit of the checkout that ran, and whether its code (runtime.CODE_PATHS) had "
        "uncommitted changes",
        default_factory=dict,
    )
    hardware: dict[str, Any] = _doc("device, CPU and its model, GPU, threads", default_factory=dict)
    plugins: list[str] = _doc(
        "the plugins (a resolved file or a module) that defined the method or the data set",
        default_factory=list,
    )
    timings: dict[str, float] = _doc(
        "seconds of prepare, fit, score, wall; peak_memory_mb: the run's peak resident memory "
        "(runtime.PeakMemory)",
        default_factory=dict,
    )
    warnings: list[str] = _doc("what makes the number worth a second look", default_factory=list)
    data: DataUsed | None = _doc("the images used", default=None)
    test: TestScores | None = _doc("test ids, labels and scores (ok runs)", default=None)
    val: ValScores | None = _doc("validation scores (ok runs)", default=None)
    metrics: dict[str, Any] | None = _doc("AUROC, average precision, per variant", default=None)
    localisation: Localisation | None = _doc(
        "where the anomaly maps point (schema 4; ok runs of a method with maps on a data set "
        "with lesion truth)",
        default=None,
    )
    history: dict[str, Any] = _doc(
        "training curves: name -> step, value, unit (step or epoch)", default_factory=dict
    )
    notes: dict[str, Any] = _doc("facts the method reported about its run", default_factory=dict)
    finished_at: str | None = _doc("UTC time the run ended", default=None)
    error: RunError | None = _doc("why it failed (failed runs)", default=None)
    rerun_of: str | None = _doc("the finished record a forced rerun replaces", default=None)
    unsaved_record: str | None = _doc(
        "where the full record went when the results disk refused it", default=None
    )
    metrics_unsaved: dict[str, Any] | None = _doc(
        "the metrics of a run whose full record could not be written here", default=None
    )
    path: Path | None = field(default=None, compare=False, metadata={"stored": False})
    """The file the record was read from (not stored)."""
    anomaly_maps: KeptMaps | None = field(
        default=None, repr=False, compare=False, metadata={"stored": False}
    )
    """The maps ``localisation`` names, the truth they were scored against and the validation
    normals' maps, until the record is written (they go to their own file,
    ``uadbench.running.kept_maps``; not stored in the record)."""
    partial: bool = field(default=False, compare=False, metadata={"stored": False})
    """Read without its score variants (a results folder's index keeps the rest): never
    written back (not stored)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def state(self) -> str:
        """The status, with ``interrupted`` for a ``running`` record whose process is gone (on
        another host: whose claim on the cell has no fresh heartbeat)."""
        from uadbench.processes import is_alive
        from uadbench.running.claims import alive

        if self.status == "running":
            going = alive(self.path, self.process) if self.path else is_alive(self.process)
            if not going:
                return "interrupted"
        return self.status

    @property
    def fingerprint(self) -> str | None:
        """The data fingerprint of the images used (None for records before fingerprints)."""
        return self.data.fingerprint if self.data else None

    @property
    def cpu_model(self) -> str | None:
        """The model of the CPU the run used (or its architecture, in records without it)."""
        return self.hardware.get("cpu_model") or self.hardware.get("cpu")

    @property
    def row_key(self) -> str:
        """The leaderboard row this record belongs to."""
        return self.config.row_key(self.fingerprint)

    @property
    def message(self) -> str:
        """The error message of a failed run ('' otherwise)."""
        return self.error.message if self.error else ""

    def fail(self, message: str, trace: str | None = None) -> None:
        """Mark the run failed with ``message``."""
        self.status = "failed"
        self.error = RunError(message, trace)

    def to_json(self) -> dict[str, Any]:
        """The record as written: the schema first, empty optional fields left out."""
        out: dict[str, Any] = {"schema": SCHEMA}
        for f in dataclasses.fields(self):
            if f.metadata.get("stored", True):
                value = getattr(self, f.name)
                if value is None and f.default is None:
                    continue
                if isinstance(value, RunConfig):
                    value = value.to_json()
                elif dataclasses.is_dataclass(value):  # a part: what is not known yet is left out
                    value = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
                out[f.name] = value
        return out

    @classmethod
    def from_json(
        cls, data: Any, path: Path | None = None, checked: bool = True, partial: bool = False
    ) -> RunRecord:
        """The record in ``data`` (any schema version this uadbench reads), checked (unless
        it was when it was indexed: ``checked=False``); ``NewerRecordError`` for a newer
        schema, ``ValueError`` naming what is wrong. ``partial``: ``data`` lacks the score
        variants."""
        data = upgrade(data, path)
        kwargs = dict(data)
        kwargs["config"] = RunConfig.from_json(_mapping(data.get("config"), "config"))
        for name, kind in _PARTS.items():
            if data.get(name) is not None:
                kwargs[name] = _construct(kind, _mapping(data[name], name), name)
        record = _construct(cls, kwargs, "record")
        record.path, record.partial = path, partial
        if checked:
            record.check()
        return record

    def check(self) -> None:
        """Raise ``ValueError`` naming what is not of its type, or what the record lacks for
        its status; ``RecordMismatchError`` for a stored metric its own scores do not give."""
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is none of {', '.join(STATUSES)}")
        _check_types(self)
        if not isinstance(self.config.params.get("image_size"), int):
            raise ValueError("its config's params have no image_size")
        if self.status != "ok":
            return
        metrics = self.metrics or {}
        if any(not isinstance(metrics.get(m), int | float) for m in REQUIRED_METRICS):
            raise ValueError(f"an ok record without metrics {' and '.join(REQUIRED_METRICS)}")
        test = self.test
        lists = [test.ids, test.labels, test.scores] if test else []
        if not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1:
            raise ValueError("an ok record without test ids, labels and scores of one length")
        if self.data is None:
            raise ValueError("an ok record without data")
        _check_metrics(self)


_PARTS = {
    "data": DataUsed,
    "test": TestScores,
    "val": ValScores,
    "localisation": Localisation,
    "error": RunError,
}
_MAPPINGS = (
    "changed_params", "process", "versions", "code", "hardware", "timings", "history", "notes",
    "config.params", "config.dataset_options",
)  # fmt: skip
_OPTIONAL_MAPPINGS = ("metrics", "metrics_unsaved")
_LISTS = (
    "warnings", "plugins", "test.ids", "test.labels", "test.scores", "val.ids", "val.scores",
    "data.skipped", "data.left_out",
)  # fmt: skip


def _check_types(record: RunRecord) -> None:
    """Raise ``ValueError`` for a field whose value is not of its kind."""

    def value(name: str) -> Any:
        owner, _, attribute = name.rpartition(".")
        part = getattr(record, owner) if owner else record
        return getattr(part, attribute) if part is not None else None

    for name in _MAPPINGS:
        if not isinstance(value(name), dict):
            raise ValueError(f"its {name} is not a mapping")
    for name in _OPTIONAL_MAPPINGS:
        if not isinstance(value(name), dict | None):
            raise ValueError(f"its {name} is not a mapping")
    for name in _LISTS:
        if not isinstance(value(name), list | None):
            raise ValueError(f"its {name} is not a list")


def _check_metrics(record: RunRecord) -> None:
    """Raise ``RecordMismatchError`` where a stored metric (``CHECKED_METRICS`` of the reported
    score and of each variant whose scores are stored, and the AUROC's interval) is not what
    the record's own test labels and scores give; ``ValueError`` where they give none."""
    metrics, test = record.metrics or {}, record.test
    variants = metrics.get("variants") or {}
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise ValueError("its metrics.variants is not a mapping of mappings")
    if not isinstance(test.score_variants, dict):
        raise ValueError("its test.score_variants is not a mapping")
    checked = [("metrics", metrics, test.scores)]  # (where stored, what, of which scores)
    checked += [
        (f"metrics.variants.{name}", variants[name], scores)
        for name, scores in test.score_variants.items()
        if name in variants
    ]
    labels = np.asarray(test.labels)
    if labels.dtype.kind not in "iu" or not np.isin(labels, (0, 1)).all():
        raise ValueError("its test.labels are not all 0 or 1")
    if not (labels == 0).any() or not (labels == 1).any():
        raise ValueError("its test.labels do not hold both classes: no AUROC")
    try:
        scores = np.array([vector for *_, vector in checked], dtype=float)
    except (TypeError, ValueError):
        raise ValueError("its test scores are not lists of numbers as long as its labels") from None
    if scores.shape != (len(checked), len(labels)) or not np.isfinite(scores).all():
        raise ValueError("its test scores are not finite numbers, one per test image")
    computed = dict(zip(CHECKED_METRICS, ranked_metrics(labels, scores), strict=True))
    for i, (where, values, _) in enumerate(checked):
        for name in CHECKED_METRICS:
            _agrees(record, f"{where}.{name}", values.get(name), computed[name][i])
    interval = metrics.get("auroc_ci95")
    if interval is None:
        return
    if not (isinstance(interval, list) and len(interval) == 2) or not all(
        isinstance(v, int | float) for v in interval
    ):
        raise ValueError("its metrics.auroc_ci95 is not two numbers")
    if not interval[0] - METRIC_TOLERANCE <= computed["auroc"][0] <= interval[1] + METRIC_TOLERANCE:
        raise RecordMismatchError(
            f"{record.path or 'a record'}: its metrics.auroc_ci95 {interval} does not hold the "
            f"AUROC of its own test labels and scores ({computed['auroc'][0]:.4f}): it was "
            "changed after its run; move it out of the results folder and run the cell again"
        )


def _agrees(record: RunRecord, name: str, stored: Any, computed: float) -> None:
    """Raise ``RecordMismatchError`` unless ``stored`` is ``computed`` up to rounding."""
    if not isinstance(stored, int | float) or not abs(stored - computed) <= METRIC_TOLERANCE:
        raise RecordMismatchError(
            f"{record.path or 'a record'}: its {name} {stored!r} is not what its own test "
            f"labels and scores give ({computed:.4f}): it was changed after its run; move it out "
            "of the results folder and run the cell again"
        )


def upgrade(data: Any, path: Path | None = None) -> dict[str, Any]:
    """A record of any readable schema as a schema-3 dictionary (without ``schema``)."""
    schema = data.get("schema") if isinstance(data, dict) else None
    name, _, version = str(schema).partition("/")
    if name != SCHEMA_NAME or not version.isdigit():
        raise ValueError(f"not a {SCHEMA_NAME} record (schema {schema!r})")
    if int(version) > SCHEMA_VERSION:
        raise NewerRecordError(
            f"{path or 'a record'} is a {schema} record, written by a newer uadbench than this "
            f"one (which reads up to {SCHEMA}); upgrade uadbench, or use another --results-dir"
        )
    out = {k: v for k, v in data.items() if k != "schema"}
    if int(version) < 3:
        config = dict(_mapping(out.get("config"), "config"))
        size = config.pop("image_size", None)
        if size != _mapping(config.get("params"), "config.params").get("image_size"):
            raise ValueError("its config's image_size differs from its params' image_size")
        for key in COPIED_TO_TOP:
            if key in out and out.pop(key) != (size if key == "image_size" else config.get(key)):
                raise ValueError(f"its top-level {key} differs from its config's")
        stored = out.pop("config_hash", None)
        if stored is not None and stored != config_hash({**config, "image_size": size}):
            raise ValueError("its config_hash does not match its config (edited by hand?)")
        out["config"] = config
    return out


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"it has no {name}" if value is None else f"its {name} is not a mapping")
    return value


def _construct(cls: type, data: dict[str, Any], name: str) -> Any:
    known, required = _field_names(cls)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"its {name} has fields this schema does not: {', '.join(unknown)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"its {name} lacks {', '.join(missing)}")
    return cls(**data)


@functools.cache
def _field_names(cls: type) -> tuple[frozenset[str], tuple[str, ...]]:
    """The stored fields of a record part, and those it cannot lack."""
    fields = dataclasses.fields(cls)
    known = frozenset(f.name for f in fields if f.metadata.get("stored", True))
    required = tuple(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return known, required


def schema_table() -> str:
    """Every stored field of schema 3 as a Markdown table (docs/RUN_RECORD.md holds it)."""
    lines = ["| field | type | meaning |", "|---|---|---|", f"| `schema` | str | `{SCHEMA}` |"]
    for prefix, cls in (("", RunRecord), ("config.", RunConfig), *_prefixed_parts()):
        for f in dataclasses.fields(cls):
            if f.metadata.get("stored", True):
                kind = str(f.type).replace("|", "or")
                lines.append(f"| `{prefix}{f.name}` | {kind} | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"


def _prefixed_parts() -> list[tuple[str, type]]:
    return [(f"{name}.", kind) for name, kind in _PARTS.items()]
