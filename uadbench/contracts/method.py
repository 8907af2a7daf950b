"""The method plugin contract: what uadbench asks of an anomaly detection method.

A method is a class with a name and two verbs, in the spirit of scikit-learn's estimators:

- ``fit(train, val)`` learns from normal images only and returns ``self``;
- ``score(images)`` returns one float per image, higher = more anomalous; or, for a method
  that computes several scores in one pass, ``score_variants(images)`` returns them by name
  and the hyperparameter ``reported`` names the one that is reported (all are recorded);
- ``__init__(params, context)`` only stores them.

Optional, as an estimator's parameters are:

- ``Params``: a dataclass of every hyperparameter, with an ``image_size`` field (by default
  only ``image_size``: the data set's ``image_size``, else 64);
- ``profiles``: a ``Params`` instance per profile name (``quick`` for a 2-core CPU, ``paper``
  for the published recipe); without it the one profile ``default`` serves both;
- ``anomaly_map(images)``: where each image is anomalous, ``(N, H, W)`` floats at the input
  size (higher = more anomalous); it never changes a score.

It becomes known by name through the ``uadbench.methods`` entry-point group, or by handing its
module to ``--plugin``. A complete method:

    >>> import numpy as np
    >>> from uadbench import Method
    >>> class MeanDistance(Method):
    ...     '''Distance of each image to the mean training image.'''
    ...     name = "mean-distance"
    ...     def fit(self, train, val=None):
    ...         self.mean_ = train.images.astype(np.float32).mean(axis=0)
    ...         return self
    ...     def score(self, images):
    ...         return np.abs(images.astype(np.float32) - self.mean_).mean(axis=(1, 2))

Over 300 lines on purpose: the whole contract a method author meets (the class, its
parameters and profiles, the context and the images it is given) is in this one file.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from uadbench.contracts.history import TrainingHistory
from uadbench.contracts.progress import ProgressReporter, SilentProgress
from uadbench.errors import ParameterError


@dataclass(frozen=True)
class Range:
    """The values a numeric hyperparameter or option may take: from ``low`` to ``high`` (either
    may be None, for no bound), each end included unless ``open_low`` / ``open_high``."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)

    def __str__(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.open_low else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.open_high else '<='} {self.high:g}")
        return " and ".join(parts) or "any number"


POSITIVE = Range(0, open_low=True)
"""Greater than zero (a learning rate, a bandwidth)."""


def at_least(low: float) -> Range:
    """``low`` or more (a count, a size)."""
    return Range(low)


def check_ranges(values: Any, ranges: Mapping[str, Range], owner: str) -> None:
    """Raise ``ParameterError`` naming the first field of the dataclass ``values`` that lies
    outside its range in ``ranges``."""
    for name, allowed in ranges.items():
        value = getattr(values, name)
        if value is not None and value not in allowed:
            raise ParameterError(f"{owner}: {name}={value} is out of range; it must be {allowed}")


DEFAULT_PROFILE = "default"
"""The one profile of a method that defines none; it serves ``quick`` and ``paper``."""

DEFAULT_IMAGE_SIZE = 64


@dataclass(frozen=True)
class DefaultParams:
    """The hyperparameters of a method that defines none: its image size only."""

    image_size: int = DEFAULT_IMAGE_SIZE


@dataclass(frozen=True)
class ImageSet:
    """Prepared images of one split: uint8 grayscale ``(N, H, W)``, their ids and extras.

    ``extras`` holds per-image arrays computed at preparation time for the methods that ask for
    them (``Method.requires``), aligned with ``images``.
    """

    images: np.ndarray
    ids: tuple[str, ...]
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"ImageSet wants uint8 images of shape (N, H, W), got {self.images.dtype} "
                f"{self.images.shape}"
            )
        if len(self.ids) != len(self.images):
            raise ValueError(f"{len(self.ids)} ids for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class LabelledImages:
    """Test images with their labels: given only to a method whose parameters declare that they
    use labels (``Method.label_use``), and the result is then marked as such."""

    images: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class RunContext:
    """What a run gives a method besides its hyperparameters.

    ``device`` is a torch device string (``"cpu"``, ``"cuda"``); ``seed`` seeds every random
    draw of the method; ``scratch`` is a private folder deleted after the run; ``progress``
    reports long loops; ``history`` records training curves and notes into the run record.
    ``labelled_test`` is None unless the method's parameters say they use labels.
    """

    device: str = "cpu"
    seed: int = 0
    scratch: Path = Path(".")
    progress: ProgressReporter = field(default_factory=SilentProgress)
    history: TrainingHistory = field(default_factory=TrainingHistory)
    labelled_test: LabelledImages | None = None


class Method(ABC):
    """Base class of every anomaly detection method (see the module docstring)."""

    name: ClassVar[str]
    """The name users type: ``uadbench run --method <name>``."""

    Params: ClassVar[type] = DefaultParams
    """A dataclass of every hyperparameter; it must have an ``image_size: int`` field."""

    profiles: ClassVar[Mapping[str, Any]] = {}
    """One ``Params`` instance per profile: ``quick`` (this CPU) and ``paper`` (published);
    empty: the one profile ``default`` (``Params()``) serves every profile name."""

    family: ClassVar[str] = "other"
    """The kind of method, a facet of the web board: e.g. ``pretext`` (a self-supervised task),
    ``reconstruction``, ``pretrained features``, or the library a bridge brings it from."""

    min_image_size: ClassVar[int] = 8
    """The smallest image side the method accepts."""

    requires: ClassVar[tuple[str, ...]] = ()
    """Names of per-image extras (see ``uadbench.contracts.extras``) the method needs in ``fit``."""

    version: ClassVar[int] = 1
    """Bumped when the algorithm changes, so that older records are not taken for new ones."""

    param_ranges: ClassVar[Mapping[str, Range]] = {}
    """The allowed values of numeric hyperparameters, checked before any work."""

    param_docs: ClassVar[Mapping[str, str]] = {}
    """What a hyperparameter means, for fields whose ``Params`` class has no docstring under
    them (a class made at run time)."""

    training_length: ClassVar[tuple[str, ...]] = ()
    """Hyperparameters that count training work (epochs, steps): with one of them 0 a stage of
    the method learns nothing, and the run record and the leaderboard row say so."""

    def __init__(self, params: Any, context: RunContext | None = None) -> None:
        self.params = params
        self.context = context if context is not None else RunContext()

    @classmethod
    def describe(cls) -> str:
        """The first paragraph of the class docstring, as plain text on one line."""
        from uadbench.contracts.param_docs import first_paragraph

        return first_paragraph(cls.__doc__)

    @classmethod
    def required_extras(cls, params: Any) -> tuple[str, ...]:
        """The per-image extras ``fit`` needs with ``params``: ``requires``, unless a
        parameter chooses among them."""
        return cls.requires

    @classmethod
    def parameter_notes(cls) -> list[str]:
        """Lines that ``uadbench methods NAME`` prints under the parameter table (none)."""
        return []

    @classmethod
    def profile_table(cls) -> Mapping[str, Any]:
        """The profiles: ``profiles``, or ``{"default": Params()}`` when it is empty."""
        return cls.profiles or {DEFAULT_PROFILE: cls.Params()}

    @classmethod
    def profile_name(cls, profile: str) -> str:
        """The profile that serves ``profile``: itself, or ``default`` for a method without
        profiles; ``ParameterError`` when there is none."""
        table = cls.profile_table()
        if profile in table:
            return profile
        if not cls.profiles and profile in ("quick", "paper"):
            return DEFAULT_PROFILE
        raise ParameterError(
            f"method {cls.name!r} has no profile {profile!r}; it has: {', '.join(sorted(table))}"
        )

    @classmethod
    def params_for(cls, profile: str, overrides: Mapping[str, str] | None = None) -> Any:
        """The profile's hyperparameters with ``overrides`` (strings, as typed) applied."""
        return replace_params(cls.profile_table()[cls.profile_name(profile)], overrides or {})

    @classmethod
    def check_params(cls, params: Any) -> None:
        """Raise ``ParameterError`` before any work if ``params`` cannot run (e.g. a too small
        size, a value outside ``param_ranges``)."""
        if params.image_size < cls.min_image_size:
            raise ParameterError(
                f"method {cls.name!r} needs images of at least {cls.min_image_size} px; "
                f"got --image-size {params.image_size}"
            )
        check_ranges(params, cls.param_ranges, f"method {cls.name!r}")

    @classmethod
    def param_warnings(cls, params: Any) -> list[str]:
        """What a reader of the result must know about ``params`` (e.g. no training at all)."""
        idle = [name for name in cls.training_length if getattr(params, name) == 0]
        if idle:
            settings = ", ".join(f"{name}=0" for name in idle)
            return [f"{settings}: that training was skipped, so this scores an untrained model"]
        return []

    @classmethod
    def label_use(cls, params: Any) -> str | None:
        """How ``params`` make the method use anomaly labels, or None (the default: never)."""
        return None

    @abstractmethod
    def fit(self, train: ImageSet, val: ImageSet | None = None) -> Method:
        """Learn from ``train`` (normal images only); ``val`` holds held-out normals."""

    def score(self, images: np.ndarray) -> np.ndarray:
        """Anomaly scores for uint8 images ``(N, H, W)``: shape ``(N,)``, higher = abnormal.
        A method overrides this, or ``score_variants``; here: the reported variant."""
        return self.score_variants(images)[self.reported_variant()]

    def score_variants(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every score the method gives, by name; the run record keeps them all and reports
        ``reported_variant()``. Here: ``{"score": score(images)}``."""
        return {SINGLE_SCORE: self.score(images)}

    def reported_variant(self) -> str:
        """The name of the reported score: the ``reported`` hyperparameter, else ``score``."""
        return getattr(self.params, "reported", SINGLE_SCORE)

    def anomaly_map(self, images: np.ndarray) -> np.ndarray:
        """Optional: where each of the uint8 images ``(N, H, W)`` is anomalous, float
        ``(N, H, W)`` at the input size, higher = more anomalous. Without it a method is
        simply not scored for localisation (``has_anomaly_map``)."""
        raise NotImplementedError(f"method {self.name!r} gives no anomaly map")

    @classmethod
    def has_anomaly_map(cls) -> bool:
        """Whether the method gives anomaly maps (it overrides ``anomaly_map``)."""
        return cls.anomaly_map is not Method.anomaly_map


SINGLE_SCORE = "score"
"""The name of a method's score when it gives one."""


def check_method_class(cls: type) -> None:
    """Raise a ``TypeError`` that says what is missing if ``cls`` breaks the contract."""
    problems = []
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{cls!r} is not a subclass of uadbench.Method")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        problems.append("a class attribute `name` (str)")
    if cls.score is Method.score and cls.score_variants is Method.score_variants:
        problems.append("a `score` (or `score_variants`) method")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and dataclasses.is_dataclass(params)):
        problems.append("`Params` that is a dataclass (or no `Params` at all)")
    else:
        names = {f.name for f in dataclasses.fields(params)}
        if "image_size" not in names:
            problems.append("an `image_size` field in `Params`")
        unknown = sorted({*cls.param_ranges, *cls.training_length} - names)
        if unknown:
            problems.append(
                f"`param_ranges` and `training_length` naming only fields of `Params` "
                f"(not {', '.join(unknown)})"
            )
    profiles = getattr(cls, "profiles", None)
    if not isinstance(profiles, Mapping):
        problems.append("`profiles` that map profile names to Params (or no `profiles`)")
    elif isinstance(params, type) and not all(isinstance(p, params) for p in profiles.values()):
        problems.append("`profiles` values that are instances of `Params`")
    elif not profiles and isinstance(params, type) and dataclasses.is_dataclass(params):
        try:
            params()
        except TypeError:
            problems.append("`profiles`, or `Params` whose fields all have defaults")
    if problems:
        raise TypeError(f"method class {cls.__qualname__} needs " + "; ".join(problems))


def replace_params(params: Any, overrides: Mapping[str, str]) -> Any:
    """A copy of the ``params`` dataclass with string ``overrides`` parsed by field type."""
    fields = {f.name: f for f in dataclasses.fields(params)}
    hints = typing.get_type_hints(type(params))
    changes = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ParameterError(
                f"unknown parameter {key!r} for {type(params).__qualname__}; valid: "
                f"{', '.join(fields)}"
            )
        changes[key] = _parse_value(key, text, hints[key]) if isinstance(text, str) else text
    return dataclasses.replace(params, **changes)


def _parse_value(key: str, text: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and args:
        if text.lower() in ("none", "null"):
            return None
        kind = args[0]
    if typing.get_origin(kind) is typing.Literal:
        choices = typing.get_args(kind)
        if text not in choices:
            raise ParameterError(f"parameter {key!r} must be one of {', '.join(map(str, choices))}")
        return text
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ParameterError(f"parameter {key!r} wants true or false, got {text!r}")
    if typing.get_origin(kind) is tuple:
        inner = typing.get_args(kind)[0]
        return tuple(_parse_value(key, part.strip(), inner) for part in text.split(",") if part)
    try:
        value = kind(text)
    except (TypeError, ValueError):
        wanted = getattr(kind, "__name__", kind)
        raise ParameterError(f"parameter {key!r} wants {wanted}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"parameter {key!r} must be a finite number, got {text!r}")
    return value
