"""Every method that gives anomaly maps points at a lesion: fitted on normal phantoms, its map
is brighter inside a bright disc pasted into normal test phantoms than elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from uadbench import registry
from uadbench.contracts.method import RunContext
from uadbench.data.prepare import prepare
from uadbench.data.readers.synthetic import SyntheticChest
from uadbench.registry import method_settings
from uadbench.running.runtime import seed_everything

SIZE = 32
SHORT = {"ae": {"epochs": "15"}, "vae": {"epochs": "15"}}
"""Settings that train each mapped method enough, on 120 phantoms at 32 px, to see a disc."""


def mapped() -> list[str]:
    methods = registry.methods
    return [name for name in methods.names() if methods.get(name).has_anomaly_map()]


def test_the_mapped_methods_are_the_ones_given_settings_here():
    assert sorted(mapped()) == sorted(SHORT)


@pytest.mark.parametrize("name", mapped())
def test_the_map_is_brighter_where_a_lesion_was_pasted(name, tmp_path):
    cls = registry.methods.get(name)
    _, _, params = method_settings(cls, "quick", {**SHORT[name], "image_size": str(SIZE)})
    options = {"n_train": "120", "n_val": "8", "n_test_normal": "16", "n_test_abnormal": "2"}
    data = prepare(SyntheticChest.from_settings(None, options), SIZE, tmp_path)
    seed_everything(0)
    method = cls(params, RunContext(device="cpu", seed=0, scratch=tmp_path))
    method.fit(data.split("train", extras=cls.required_extras(params)), data.split("val"))
    test = data.split("test")
    normals = test.images[data.labels("test") == 0]
    y, x = np.mgrid[:SIZE, :SIZE]
    disc = (y - SIZE * 0.45) ** 2 + (x - SIZE * 0.3) ** 2 <= (SIZE * 0.12) ** 2  # in a lung
    pasted = normals.copy()
    pasted[:, disc] = 255
    maps = method.anomaly_map(pasted)
    inside, outside = maps[:, disc].mean(axis=1), maps[:, ~disc].mean(axis=1)
    assert (inside > 2 * outside).all(), f"{name}: inside {inside}, outside {outside}"
