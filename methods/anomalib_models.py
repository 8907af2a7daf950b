"""What the bridge knows of each anomalib model it lists: image sizes and epochs of the quick
and paper profiles, the weights it may use offline, its input intensities, and how to read its
reconstruction where it makes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from uadbench.methods.anomalib_offline import LITE0


@dataclass(frozen=True)
class ModelSpec:
    """What the bridge knows of one anomalib model."""

    paper_size: int = 256
    paper_epochs: int = 1
    quick_size: int = 128
    quick_epochs: int = 1
    quick_weights: str = "none"
    quick_max_steps: int = -1
    """A cap on Lightning's optimiser steps (one per batch for most models; CFLOW steps once per
    fiber batch) for models too slow for one full epoch on a 2-core CPU."""
    min_size: int = 64
    multiple: int = 32
    intensities: Literal["imagenet", "unit", "signed"] = "imagenet"
    """What the model is fed: ImageNet-normalised (anomalib's default), [0, 1] or [-1, 1]."""
    version: int = 1
    """Bumped when the bridge changes what the model computes, so that old records stay apart."""
    memory_bank: bool = False
    """True for models fitted by one pass over the training images without gradients (anomalib's
    ``MemoryBankMixin``): the bridge feeds them every training image, where gradient-trained
    models drop a last, smaller batch. Version 1 of these models dropped it too."""
    lite0_layers: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments that make the model use EfficientNet-Lite0 (empty: it cannot)."""
    resnet18_layers: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments that make the model use ResNet-18 (empty: it cannot)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments a user may change, with the bridge's values: each is a
    hyperparameter of the method (``--param coreset_sampling_ratio=0.01``), so it is in every
    record. The constructor's other arguments keep anomalib's defaults (``uadbench methods
    NAME`` lists them); ``pre_trained`` follows ``weights`` for every model."""
    reconstruction: Callable[[Any, Any], Any] | None = None
    """``(torch model, inputs) -> rebuilt images`` for models that rebuild images, checked for
    collapse after training; None for other models."""
    needs_pretrained: bool = False
    """True where the model is meaningless with random weights (a frozen pretrained network)."""
    anomaly_map: bool = True
    """False for models that give an image score only (their output has no ``anomaly_map``)."""
    reference: str = ""

    @property
    def pretrained(self) -> dict[str, dict[str, Any]]:
        """Constructor arguments per ``weights`` value other than ``none`` that the model takes."""
        layers = {"efficientnet-lite0": self.lite0_layers, "resnet18": self.resnet18_layers}
        return {weights: arguments for weights, arguments in layers.items() if arguments}


MODELS: dict[str, ModelSpec] = {
    "padim": ModelSpec(
        quick_weights="efficientnet-lite0",
        lite0_layers={
            "backbone": LITE0,
            "layers": ["blocks.1", "blocks.2", "blocks.4"],
            "n_features": 100,
        },
        memory_bank=True,
        version=2,  # 1 left the last partial batch of training images out
        reference="Defard et al., PaDiM, ICPR 2021 (anomalib config: 256 px, 1 epoch)",
    ),
    "patchcore": ModelSpec(
        quick_size=64,
        quick_weights="efficientnet-lite0",
        kwargs={"coreset_sampling_ratio": 0.1, "num_neighbors": 9},
        lite0_layers={"backbone": LITE0, "layers": ["blocks.2", "blocks.4"]},
        memory_bank=True,
        version=2,  # 1 left the last partial batch of training images out
        reference="Roth et al., PatchCore, CVPR 2022 (anomalib: 256 px, 1 epoch, coreset 0.1)",
    ),
    "dfm": ModelSpec(
        quick_weights="efficientnet-lite0",
        lite0_layers={"backbone": LITE0, "layer": "blocks.4"},
        kwargs={"pooling_kernel_size": 4, "pca_level": 0.97, "score_type": "fre"},
        memory_bank=True,
        version=2,  # 1 left the last partial batch of training images out
        reference="Ahuja et al., Deep feature modeling, 2019 (anomalib config: 256 px, 1 epoch)",
    ),
    "dfkde": ModelSpec(
        quick_weights="efficientnet-lite0",
        lite0_layers={"backbone": LITE0, "layers": ["blocks.6"]},
        kwargs={"n_pca_components": 16, "max_training_points": 40000},
        memory_bank=True,
        version=2,  # 1 left the last partial batch of training images out
        anomaly_map=False,
        reference="anomalib's deep-feature kernel density (256 px, 1 epoch)",
    ),
    "stfpm": ModelSpec(
        needs_pretrained=True,
        paper_epochs=100,
        quick_epochs=10,
        quick_weights="efficientnet-lite0",
        lite0_layers={"backbone": LITE0, "layers": ["blocks.1", "blocks.2", "blocks.4"]},
        resnet18_layers={"backbone": "resnet18"},
        reference="Wang et al., STFPM, BMVC 2021 (anomalib config: 256 px, 100 epochs); its "
        "teacher must be pretrained: weights=efficientnet-lite0 or weights=resnet18",
    ),
    "cflow": ModelSpec(
        paper_epochs=50,
        quick_epochs=1,
        quick_weights="efficientnet-lite0",
        min_size=128,
        lite0_layers={
            "backbone": LITE0,
            "layers": ["blocks.2", "blocks.4", "blocks.6"],
            "fiber_batch_size": 16,
        },
        kwargs={"coupling_blocks": 8, "clamp_alpha": 1.9, "condition_vector": 128, "lr": 1e-4},
        reference="Gudovskiy et al., CFLOW-AD, WACV 2022 (anomalib config: 256 px, 50 epochs)",
    ),
    "fastflow": ModelSpec(
        needs_pretrained=True,
        paper_epochs=500,
        quick_epochs=5,
        quick_weights="resnet18",
        multiple=16,
        resnet18_layers={"backbone": "resnet18"},
        reference="Yu et al., FastFlow, 2021 (anomalib config: 256 px, 500 epochs, resnet18); "
        "its feature extractor is frozen, so it needs weights=resnet18 (EfficientNet does not fit "
        "its flows)",
    ),
    "reverse_distillation": ModelSpec(
        needs_pretrained=True,
        paper_epochs=200,
        quick_epochs=10,
        quick_weights="resnet18",
        resnet18_layers={"backbone": "resnet18"},
        reference="Deng & Li, Reverse distillation, CVPR 2022 (anomalib: 256 px, 200 epochs, "
        "wide_resnet50_2); its teacher is frozen, so it needs weights=resnet18 (its decoders "
        "mirror ResNets only)",
    ),
    "ganomaly": ModelSpec(
        paper_epochs=100,
        quick_epochs=15,
        quick_size=64,
        min_size=32,
        intensities="signed",
        kwargs={"latent_vec_size": 100, "n_features": 64, "wadv": 1, "wcon": 50, "wenc": 1},
        version=2,  # 1 fed ImageNet-normalised inputs, outside its generator's tanh range
        reconstruction=lambda model, x: model.generator(_padded_to_power_of_two(x))[0],
        anomaly_map=False,
        reference="Akcay et al., GANomaly, ACCV 2018 (anomalib config: 256 px, 100 epochs); "
        "inputs in [-1, 1] as in the authors' code and uadbench's reconstruction models",
    ),
    "draem": ModelSpec(
        paper_epochs=700,
        quick_epochs=1,
        quick_max_steps=20,
        quick_size=64,
        intensities="unit",
        kwargs={"enable_sspcab": False, "sspcab_lambda": 0.1},
        reconstruction=lambda model, x: model.reconstructive_subnetwork(x),
        reference="Zavrtanik et al., DRAEM, ICCV 2021 (anomalib config: 256 px, 700 epochs); "
        "without the DTD textures it pastes Perlin noise only",
    ),
}
"""Models known to run offline here; any other anomalib model can be asked for by name. The
quick epochs and sizes fit a 2-core CPU (about 15 minutes at most on ZhangLab); the paper
values are those of anomalib's configuration files for each model."""


def _padded_to_power_of_two(x: Any) -> Any:
    """GANomaly's generator takes sides of a power of two; its model pads its input so."""
    from anomalib.data.utils.image import pad_nextpow2

    return pad_nextpow2(x)
