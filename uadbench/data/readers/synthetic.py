"""``synthetic``: chest-radiograph phantoms generated on the fly, the embedded default data set.

Needs no download. Normal phantoms fill train, validation and half of test; the abnormal half of
test cycles through the four findings of ``uadbench.data.readers.phantom`` (consolidation,
nodule, effusion, cardiomegaly), recorded in the table's ``finding`` column. Every phantom is
determined by ``data_seed`` and its index, so the same options give the same images at every
size.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from uadbench.contracts.dataset import Dataset
from uadbench.contracts.method import at_least
from uadbench.data.readers.phantom import FINDINGS, PHANTOM_VERSION, ChestPhantom


class SyntheticChest(Dataset):
    """Chest-radiograph phantoms with known lesions and lung masks; no download."""

    name = "synthetic"
    needs_root = False

    @dataclass(frozen=True)
    class Options:
        n_train: int = 800
        n_val: int = 100
        n_test_normal: int = 200
        n_test_abnormal: int = 200
        data_seed: int = 20240501

    option_ranges = {
        "n_train": at_least(1),
        "n_val": at_least(0),
        "n_test_normal": at_least(1),
        "n_test_abnormal": at_least(1),
        "data_seed": at_least(0),
    }

    @property
    def split_version(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self.options), sort_keys=True).encode())
        return f"phantom-v{PHANTOM_VERSION}-{digest.hexdigest()[:8]}"

    def split_table(self) -> pd.DataFrame:
        o = self.options
        splits = (
            ["train"] * o.n_train
            + ["val"] * o.n_val
            + ["test"] * (o.n_test_normal + o.n_test_abnormal)
        )
        findings = ["normal"] * (o.n_train + o.n_val + o.n_test_normal) + [
            FINDINGS[i % len(FINDINGS)] for i in range(o.n_test_abnormal)
        ]
        return pd.DataFrame(
            {
                "id": [f"phantom-{i:06d}" for i in range(len(splits))],
                "source": [f"phantom:{o.data_seed}:{i}:{f}" for i, f in enumerate(findings)],
                "label": [int(f != "normal") for f in findings],
                "split": splits,
                "finding": findings,
            }
        )

    def check_present(self) -> None:
        """Always present: nothing is read from disk."""

    def check_files(self, table: pd.DataFrame) -> None:
        """Nothing to check: nothing is read from disk."""

    def phantom(self, source: str) -> ChestPhantom:
        """The phantom a ``source`` string of the table names."""
        _, data_seed, index, finding = source.split(":")
        rng = np.random.default_rng([int(data_seed), int(index)])
        return ChestPhantom.sample(rng, None if finding == "normal" else finding)

    def read_image(self, source: str, size: int) -> np.ndarray:
        """The phantom ``source`` names, drawn straight at ``size``."""
        return self.phantom(source).render(size)[0]

    lesion_truth = "mask"

    def lesion_regions(self, table: pd.DataFrame, size: int) -> np.ndarray:
        """The true outlines of ``table``'s findings at ``size`` (``ChestPhantom.lesion_mask``)."""
        return np.stack([self.phantom(s).lesion_mask(size) for s in table["source"]])

    def lung_masks(self, table: pd.DataFrame, size: int) -> np.ndarray:
        """The true lung masks of ``table``'s phantoms at ``size`` (N, size, size) bool."""
        return np.stack([self.phantom(s).render(size)[1] for s in table["source"]])
