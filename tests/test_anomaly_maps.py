"""Every family of methods that gives anomaly maps points at a lesion: fitted on normal
phantoms, a method's map is brighter inside a bright disc pasted into normal test phantoms
than elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from uadbench import registry
from uadbench.contracts.method import RunContext
from uadbench.data.prepare import prepare
from uadbench.data.readers.synthetic import SyntheticChest
from uadbench.registry import method_settings
from uadbench.running.runtime import seed_everything

FAMILIES = {
    "reconstruction": ("ae", 32, 0.12, {"epochs": "15"}),
    "anomalib": ("anomalib-patchcore", 64, 0.2, {}),
    "pretrained features": ("imagenet-gaussian", 64, 0.2, {}),
    "pretext": ("anatpaste", 64, 0.2, {"steps": "30"}),
}
"""One method of each family that gives maps: its image size, the pasted disc's radius (a
share of the image side; a feature map of stride 8 to 16 needs a disc a few cells wide) and
settings that fit it enough on 120 phantoms."""


def mapped() -> list[str]:
    methods = registry.methods
    return [name for name in methods.names() if methods.get(name).has_anomaly_map()]


def test_every_family_with_maps_is_tested_here():
    families = {registry.methods.get(name).family for name in mapped()}
    assert families == set(FAMILIES)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_the_map_is_brighter_where_a_lesion_was_pasted(family, tmp_path):
    name, size, radius, settings = FAMILIES[family]
    cls = registry.methods.get(name)
    _, _, params = method_settings(cls, "quick", {**settings, "image_size": str(size)})
    options = {"n_train": "120", "n_val": "8", "n_test_normal": "16", "n_test_abnormal": "2"}
    data = prepare(SyntheticChest.from_settings(None, options), size, tmp_path)
    seed_everything(0)
    method = cls(params, RunContext(device="cpu", seed=0, scratch=tmp_path))
    extras = cls.required_extras(params)
    method.fit(data.split("train", extras=extras), data.split("val", extras=extras))
    normals = data.split("test").images[data.labels("test") == 0]
    y, x = np.mgrid[:size, :size]
    disc = (y - size * 0.45) ** 2 + (x - size * 0.3) ** 2 <= (size * radius) ** 2
    pasted = normals.copy()
    pasted[:, disc] = 255
    # pasting raised the map more inside the disc than elsewhere (whatever the map's scale;
    # coarse feature maps, upsampled and blurred, raise the disc's surroundings too)
    change = method.anomaly_map(pasted) - method.anomaly_map(normals)
    inside, outside = change[:, disc].mean(axis=1), np.abs(change[:, ~disc]).mean(axis=1)
    assert (inside > 1.25 * outside).all(), f"{name}: inside {inside}, outside {outside}"
