"""``anatpaste``: anatomy-aware self-supervised anomaly detection (Sato et al., iScience 2023).

A ResNet-18 learns to tell chest radiographs from copies in which a patch of the same image has
been pasted, softly, inside the lungs (``anatpaste_augmentation``); test images are scored by a
Gaussian kernel density of its embeddings of the training normals. The lung masks are the
reference code's threshold masks (``uadbench.methods.lung_mask``), computed once per training
image at preparation time.

Profiles:
- ``paper``: the reference recipe: ResNet-18 from scratch, 256 px, 64 originals + 64 augmented
  per step, SGD (lr 0.03, momentum 0.9, weight decay 3e-5), cosine schedule, 256 x 256 = 65,536
  steps, kernel density with bandwidth 1, last checkpoint.
- ``quick``: one run in about ten minutes on a 2-core CPU (see
  ``uadbench.methods.pretext.profiles``).

    uadbench run --method anatpaste --dataset zhanglab --seeds 0,1,2
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from uadbench.methods import lung_mask  # noqa: F401  (registers the extra)
from uadbench.methods.pretext.profiles import PAPER, QUICK
from uadbench.methods.pretext.trainer import PretextMethod

from uadbench import ImageSet

if TYPE_CHECKING:
    from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation


class AnatPaste(PretextMethod):
    """AnatPaste: classify lung-pasted copies vs originals, score by embedding density."""

    name = "anatpaste"
    requires = ("lung_mask",)
    profiles = {"quick": QUICK, "paper": PAPER}

    def augmentation(self, images: ImageSet) -> AnatPasteAugmentation:
        import torch
        from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation

        masks = np.ascontiguousarray(images.extras["lung_mask"])
        return AnatPasteAugmentation(torch.from_numpy(masks).to(self.context.device))
