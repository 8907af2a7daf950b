"""``cutpaste`` and its variants: self-supervised anomaly detection by cut-and-paste
(Li et al., "CutPaste: Self-Supervised Learning for Anomaly Detection and Localization",
CVPR 2021), as re-implemented in the code AnatPaste builds on.

Same two-stage method as ``anatpaste`` (``uadbench.methods.pretext.trainer``), other augmentations
(``cutpaste_augmentation``): ``cutpaste`` (a rectangle moved elsewhere), ``cutpaste-scar``
(a thin rotated strip), ``cutpaste-union`` (either, one class) and ``cutpaste-3way`` (both, as
two classes). The paper profile reports CutPaste's own score: a Gaussian density with a
Ledoit-Wolf covariance; every other score is recorded too.

Profiles as for ``anatpaste``: ``paper`` is the reference recipe (256 px, 64 + 64, SGD 0.03,
cosine, 65,536 steps, from scratch), ``quick`` the very same 2-core CPU profile as AnatPaste's,
reported score included, so that the two differ only in their augmentation.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from uadbench.methods.pretext.profiles import PAPER, QUICK
from uadbench.methods.pretext.trainer import PretextMethod

from uadbench import ImageSet

if TYPE_CHECKING:
    from uadbench.methods.cutpaste_augmentation import CutPasteAugmentation


class _CutPaste(PretextMethod):
    variant = "normal"
    profiles = {
        "quick": QUICK,
        "paper": dataclasses.replace(PAPER, reported="gaussian"),
    }

    def augmentation(self, images: ImageSet) -> CutPasteAugmentation:
        from uadbench.methods.cutpaste_augmentation import CutPasteAugmentation

        return CutPasteAugmentation(self.variant)


class CutPaste(_CutPaste):
    """CutPaste (normal): classify copies with a rectangle moved elsewhere."""

    name = "cutpaste"
    variant = "normal"


class CutPasteScar(_CutPaste):
    """CutPaste-scar: classify copies with a thin rotated strip moved elsewhere."""

    name = "cutpaste-scar"
    variant = "scar"


class CutPasteUnion(_CutPaste):
    """CutPaste union: rectangle or scar, one augmented class."""

    name = "cutpaste-union"
    variant = "union"


class CutPaste3Way(_CutPaste):
    """CutPaste 3-way: originals, rectangles and scars as three classes."""

    name = "cutpaste-3way"
    variant = "3way"
