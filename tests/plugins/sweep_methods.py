"""Methods that misbehave on purpose, to test how a sweep copes."""

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from uadbench import Method


@dataclass(frozen=True)
class Params:
    image_size: int = 16
    seconds: float = 0.0


class Broken(Method):
    """Raises in fit."""

    name = "broken"
    Params = Params
    profiles = {"quick": Params()}

    def fit(self, train, val=None):
        raise RuntimeError("this cell is meant to fail")

    def score(self, images):
        return np.zeros(len(images))


class KillsItsWorker(Method):
    """Kills its own process, as the kernel's OOM killer would."""

    name = "kills-its-worker"
    Params = Params
    profiles = {"quick": Params()}

    def fit(self, train, val=None):
        os.kill(os.getpid(), signal.SIGKILL)

    def score(self, images):
        return np.zeros(len(images))


class Slow(Method):
    """Sleeps in fit, then scores by mean intensity."""

    name = "slow"
    Params = Params
    profiles = {"quick": Params(seconds=4.0)}

    def fit(self, train, val=None):
        time.sleep(self.params.seconds)
        return self

    def score(self, images):
        return images.reshape(len(images), -1).mean(axis=1).astype(float)
