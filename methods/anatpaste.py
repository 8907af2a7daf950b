"""``anatpaste``: anatomy-aware self-supervised anomaly detection (Sato et al., iScience 2023).

A ResNet-18 learns to tell chest radiographs from copies in which a patch of the same image has
been pasted, softly, inside the lungs (``anatpaste_augmentation``); test images are scored by a
Gaussian kernel density of its embeddings of the training normals. The lung masks are the
reference code's threshold masks (``uadbench.methods.lung_mask``), computed once per training
image at preparation time. ``--param mask=lung-field`` pastes within the whole lung fields made
from them instead, ``mask=whole-image`` anywhere in the image (the same augmentation, no
anatomy).

Profiles:
- ``paper``: the reference recipe: ResNet-18 from scratch, 256 px, 64 originals + 64 augmented
  per step, SGD (lr 0.03, momentum 0.9, weight decay 3e-5), cosine schedule, 256 x 256 = 65,536
  steps, kernel density with bandwidth 1, last checkpoint.
- ``quick``: one run in about twelve minutes on a 2-core CPU (see
  ``uadbench.methods.pretext.profiles``).

    uadbench run --method anatpaste --dataset zhanglab --seeds 0,1,2
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from uadbench.methods import lung_mask  # noqa: F401  (registers the extra)
from uadbench.methods.pretext.profiles import PAPER, QUICK
from uadbench.methods.pretext.trainer import PretextMethod, PretextParams

from uadbench import ImageSet

if TYPE_CHECKING:
    from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation


@dataclass(frozen=True)
class AnatPasteParams(PretextParams):
    """The pretext hyperparameters, and where AnatPaste pastes."""

    mask: Literal["reference", "lung-field", "whole-image"] = "reference"
    """Where the pastes go: the reference code's threshold mask (``lung_mask``), the whole lung
    fields made from it (``lung_field_mask``), or anywhere in the image (the same augmentation
    with no anatomy)."""


MASK_EXTRAS = {"reference": "lung_mask", "lung-field": "lung_field_mask"}


class AnatPaste(PretextMethod):
    """AnatPaste: classify lung-pasted copies vs originals, score by embedding density."""

    name = "anatpaste"
    Params = AnatPasteParams
    requires = tuple(MASK_EXTRAS.values())
    profiles = {
        "quick": AnatPasteParams(**dataclasses.asdict(QUICK)),
        "paper": AnatPasteParams(**dataclasses.asdict(PAPER)),
    }

    @classmethod
    def required_extras(cls, params: AnatPasteParams) -> tuple[str, ...]:
        return (MASK_EXTRAS[params.mask],) if params.mask in MASK_EXTRAS else ()

    def augmentation(self, images: ImageSet) -> AnatPasteAugmentation:
        import torch
        from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation

        if extras := self.required_extras(self.params):
            masks = np.ascontiguousarray(images.extras[extras[0]])
        else:  # whole-image: the same augmentation pasted anywhere
            masks = np.ones(images.images.shape, dtype=bool)
        return AnatPasteAugmentation(torch.from_numpy(masks).to(self.context.device))
