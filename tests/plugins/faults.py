"""Methods and a data set that misbehave on purpose, for the fault-injection battery.

``FAULTS_MARKER`` (a path) is created when the stage named by ``FAULTS_STAGE`` is reached, so
a test knows when to kill the process: ``prepare`` (decoding an image), ``fit`` (training) or
``final-write`` (inside the atomic replace of the finished record). The process then waits
there for ``FAULTS_HOLD`` seconds (default 60).
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uadbench import Method
from uadbench.data.readers.synthetic import SyntheticChest

STAGE = os.environ.get("FAULTS_STAGE", "")
MARKER = os.environ.get("FAULTS_MARKER", "")
HOLD = float(os.environ.get("FAULTS_HOLD", "60"))


def reached(stage: str) -> None:
    """At ``stage``: say so (the marker) and hold, if the test asked for this stage."""
    if stage == STAGE:
        Path(MARKER).touch()
        time.sleep(HOLD)


@dataclass(frozen=True)
class Params:
    image_size: int = 16


class Steady(Method):
    """Scores by mean intensity; holds in fit when ``FAULTS_STAGE=fit``."""

    name = "steady"
    Params = Params
    profiles = {"quick": Params()}

    def fit(self, train, val=None):
        reached("fit")
        return self

    def score(self, images):
        return images.reshape(len(images), -1).mean(axis=1).astype(float)


class Constant(Method):
    """Gives every image the same score."""

    name = "constant"
    Params = Params
    profiles = {"quick": Params()}

    def fit(self, train, val=None):
        return self

    def score(self, images):
        return np.ones(len(images))


class Raises(Method):
    """Runs out of memory in fit."""

    name = "raises"
    Params = Params
    profiles = {"quick": Params()}

    def fit(self, train, val=None):
        raise MemoryError("out of memory on purpose")

    def score(self, images):
        return np.zeros(len(images))


class NanScores(Constant):
    """Scores NaN."""

    name = "nan-scores"

    def score(self, images):
        return np.full(len(images), np.nan)


class WrongLength(Constant):
    """Returns one score too few."""

    name = "wrong-length"

    def score(self, images):
        return np.zeros(len(images) - 1)


class SlowPhantoms(SyntheticChest):
    """Phantoms that hold while being decoded when ``FAULTS_STAGE=prepare``."""

    name = "slow-phantoms"

    def read_image(self, source: str, size: int) -> np.ndarray:
        reached("prepare")
        return super().read_image(source, size)


if STAGE == "final-write":
    import uadbench.running.record_store as _store

    _write_record, _replace = _store.write_record, os.replace
    _final = {"now": False}

    def _watched_write(path, record):
        _final["now"] = record.status != "running"
        return _write_record(path, record)

    def _held_replace(src, dst, **kwargs):
        if _final["now"] and str(dst).endswith(".json"):
            _final["now"] = False
            reached("final-write")
        return _replace(src, dst, **kwargs)

    _store.write_record = _watched_write
    os.replace = _held_replace
