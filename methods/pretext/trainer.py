"""The two-stage method shared by AnatPaste and CutPaste: learn to tell originals from
augmented images, then score test images by a density of the learned embeddings.

``PretextMethod`` is a ``Method`` whose subclasses only say which augmentation they use. Its
``fit`` trains the classifier on batches of training normals plus their augmented copies
(cross-entropy, originals class 0); its ``score`` embeds images with the backbone (the head is
not used) and scores them by densities fitted on the training normals
(``embedding_densities``): a Gaussian kernel density (bandwidth 1, AnatPaste's default), a
Gaussian with a Ledoit-Wolf covariance (CutPaste's default) and a k-nearest-neighbour distance,
of the last level's embedding or of every level's, with the last step's weights, their moving
average, or the last checkpoints (``weight_averages``). Every combination is recorded;
``reported``, ``levels`` and ``weights_average`` name the reported one. No labels are needed to
choose any of them. ``select_checkpoint_by_test_auroc`` replicates the reference code's
selection instead, which looks at test labels; the run record and the leaderboard then say so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from uadbench.methods.pretext.embedding_densities import level_variant
from uadbench.methods.pretext.weight_averages import weights_variant

from uadbench import ImageSet, Method
from uadbench.contracts.method import POSITIVE, Range, at_least
from uadbench.errors import ParameterError

if TYPE_CHECKING:
    import torch

JITTER = 0.1
"""ColorJitter applied to every training image before it is augmented."""


@dataclass(frozen=True)
class PretextParams:
    """Hyperparameters of a pretext method (see ``PretextMethod``)."""

    image_size: int = 128
    backbone: Literal["resnet18", "efficientnet-lite0"] = "resnet18"
    """The network whose embeddings the densities model."""
    weights: Literal["none", "imagenet"] = "none"
    """Its starting weights: random (``none``) or ImageNet, read from disk."""
    steps: int = 300
    """Optimiser steps of pretext training."""
    batch_size: int = 32
    """Originals per step; each augmented view adds as many images."""
    optimizer: Literal["sgd", "adam"] = "sgd"
    """SGD with momentum, as the reference, or Adam."""
    lr: float = 0.03
    """Learning rate."""
    momentum: float = 0.9
    """SGD momentum (unused by Adam)."""
    weight_decay: float = 3e-5
    """L2 weight decay."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule over the steps."""
    freeze_batchnorm: bool = False
    """Keep the backbone's batch-norm statistics as they were at the start (pretrained ones)."""
    reported: Literal["kde", "gaussian", "knn"] = "kde"
    """The reported density: Gaussian kernel density (``kde``), Ledoit-Wolf Gaussian, or the
    mean cosine distance to the ``k`` nearest training embeddings (``knn``)."""
    levels: Literal["last", "all"] = "last"
    """The embedding the reported density models: the last level's pooled output, or every
    level's (stem, blocks, head), each L2-normalised (the Gaussian: one per level, summed)."""
    weights_average: Literal["none", "ema", "checkpoints"] = "none"
    """The weights the reported score uses: the last step's, their exponential moving average
    (``ema_decay``), or the last ``checkpoints`` (one density each, the scores averaged)."""
    bandwidth: float = 1.0
    """Bandwidth of the Gaussian kernel density (``kde``), on L2-normalised embeddings."""
    k: int = 5
    """Neighbours of the ``knn`` distance."""
    ema_decay: float = 0.99
    """Decay of the weights' moving average per step (0.99: about the last 100 steps)."""
    checkpoints: int = 3
    """Checkpoints averaged, the last step's included, ``checkpoint_every`` steps apart."""
    checkpoint_every: int = 50
    """Steps between two averaged checkpoints."""
    frozen_levels: int = 0
    """Backbone levels kept as they start, counted from the stem (0: all train). EfficientNet-Lite0
    has 9 levels (stem, blocks 0 to 6, head), ResNet-18 5 (stem, layers 1 to 4); the projection
    head always trains."""
    log_every: int = 10
    """Steps between two recorded losses (the training curve)."""
    select_checkpoint_by_test_auroc: bool = False
    """Uses test labels: evaluate every ``selection_every`` steps and keep the best."""
    selection_every: int = 256
    """Steps between two test evaluations when selecting by test AUROC."""
    mixed_precision: bool = False
    """bf16 autocast of the training forward pass on a CUDA device (the CPU computes in fp32;
    the record notes which was used)."""
    channels_last: bool = False
    """Channels-last memory layout of the network and its batches (faster convolutions on
    recent GPUs; other convolution kernels, so the last digits of the numbers may differ)."""
    compile: bool = False
    """Compile the network with ``torch.compile`` before training."""


class PretextMethod(Method):
    """Base of the pretext methods; a subclass provides ``augmentation``."""

    Params: ClassVar[type] = PretextParams
    family = "pretext"
    min_image_size = 32
    embed_batch = 64
    param_ranges = {
        "steps": at_least(1),
        "batch_size": at_least(2),  # batch norm needs two
        "lr": POSITIVE,
        "momentum": Range(0, 1, open_high=True),
        "weight_decay": at_least(0),
        "bandwidth": POSITIVE,
        "k": at_least(1),
        "ema_decay": Range(0, 1, open_high=True),
        "checkpoints": at_least(1),
        "checkpoint_every": at_least(1),
        "frozen_levels": at_least(0),
        "log_every": at_least(1),
        "selection_every": at_least(1),
    }

    def augmentation(self, images: ImageSet) -> Any:
        """The batched augmentation of ``images`` on the run's device (see
        ``anatpaste_augmentation`` / ``cutpaste_augmentation``): called with a batch of them in
        [0, 1], their indices in ``images`` and a generator; ``notes(fallbacks)`` says, for the
        run record, what it found in them and how often it fell back."""
        raise NotImplementedError

    @classmethod
    def check_params(cls, params: PretextParams) -> None:
        from uadbench.methods.backbones import build_backbone

        super().check_params(params)
        # with imagenet weights, fails now naming the missing file
        levels = len(build_backbone(params.backbone, params.weights).stage_modules)
        if params.frozen_levels > levels:
            raise ParameterError(
                f"frozen_levels={params.frozen_levels}: {params.backbone} has {levels} levels"
            )
        if params.select_checkpoint_by_test_auroc and params.weights_average != "none":
            raise ParameterError(
                "select_checkpoint_by_test_auroc picks one checkpoint; it takes "
                "weights_average=none"
            )

    def reported_variant(self) -> str:
        p = self.params
        weights = "last" if p.weights_average == "none" else p.weights_average
        return weights_variant(weights, level_variant(p.levels, p.reported))

    @classmethod
    def label_use(cls, params: PretextParams) -> str | None:
        if params.select_checkpoint_by_test_auroc:
            return f"checkpoint chosen by test AUROC every {params.selection_every} steps"
        return None

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> PretextMethod:
        import torch
        from torch import nn
        from uadbench.methods.pretext.network import PretextNetwork
        from uadbench.methods.pretext.paste import jitter_images
        from uadbench.methods.pretext.weight_averages import WeightAverages
        from uadbench.methods.tensors import seeded_generator

        p, ctx = self.params, self.context
        device = ctx.device
        images = torch.from_numpy(np.ascontiguousarray(train.images)).to(device)
        augment = self.augmentation(train)
        self.network_ = PretextNetwork(p.backbone, p.weights, augment.n_classes).to(device)
        layout = torch.channels_last if p.channels_last else torch.contiguous_format
        self.network_ = self.network_.to(memory_format=layout)
        for level in self.network_.backbone.stage_modules[: p.frozen_levels]:
            level.requires_grad_(False)
        optimizer, schedule = self._optimiser()
        averages = WeightAverages(
            self.network_, p.steps, p.ema_decay, p.checkpoints, p.checkpoint_every
        )
        forward = torch.compile(self.network_) if p.compile else self.network_
        bf16 = p.mixed_precision and torch.device(device).type == "cuda"
        ctx.history.note(training_precision="bf16 autocast" if bf16 else "fp32")
        generator = seeded_generator(ctx.seed)
        best = (-1.0, None)
        # summed on the device and read every log_every steps: no host synchronisation per step
        fallbacks, window = torch.zeros((), device=device, dtype=torch.long), _Window(device)
        self._train_mode()
        with ctx.progress.task(f"training {self.name}", p.steps) as bar:
            for step, indices in enumerate(_batches(len(images), p.batch_size, p.steps, generator)):
                x = jitter_images(images[indices.to(device)].float() / 255, JITTER, generator)
                views, empty = augment(x, indices, generator)
                fallbacks += empty
                batch, labels = pretext_batch(x, views)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                    _, logits = forward(batch.contiguous(memory_format=layout))
                    loss = nn.functional.cross_entropy(logits.float(), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                averages.update(self.network_, step + 1)
                window.add(loss, logits, labels)
                bar.advance()
                if (step + 1) % p.log_every == 0 or step + 1 == p.steps:
                    mean_loss, accuracy = window.read()
                    # raises on a NaN or infinite loss, naming the step
                    ctx.history.record(step + 1, loss=mean_loss, accuracy=accuracy)
                    bar.advance(0, loss=mean_loss)
                    window = _Window(device)
                if p.select_checkpoint_by_test_auroc and (step + 1) % p.selection_every == 0:
                    best = self._keep_if_better(best, train, step + 1)
        ctx.history.note(**augment.notes(int(fallbacks)))
        if best[1] is not None:  # the selected checkpoint: no averages of other weights
            self.network_.load_state_dict(best[1])
            self.networks_ = {"last": [self.network_]}
        else:
            self.networks_ = averages.networks(self.network_)
        self._fit_densities(train)
        self.train_images_ = train.images  # the local densities of maps are fitted on demand
        if val is not None:
            ctx.history.note(val_pretext_accuracy=self._pretext_accuracy(val))
        return self

    def _train_mode(self) -> None:
        from torch import nn

        self.network_.train()
        if self.params.freeze_batchnorm:
            for module in self.network_.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        for level in self.network_.backbone.stage_modules[: self.params.frozen_levels]:
            level.eval()

    def _optimiser(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        import torch

        p = self.params
        parameters = [x for x in self.network_.parameters() if x.requires_grad]
        if p.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                parameters, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay
            )
        else:
            optimizer = torch.optim.Adam(parameters, lr=p.lr, weight_decay=p.weight_decay)
        if p.schedule == "cosine":
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, p.steps)
        else:
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        return optimizer, schedule

    def level_features(self, network: torch.nn.Module, images: np.ndarray) -> list[np.ndarray]:
        """The pooled feature map of every backbone level of ``network`` for uint8 images
        ``(N, H, W)``: one ``(N, channels)`` array per level, the last being the embedding."""
        import torch

        with torch.no_grad():
            was_training = self.network_.training
            network.eval()
            levels: list[list[torch.Tensor]] = []
            for start in range(0, len(images), self.embed_batch):
                x = torch.from_numpy(np.ascontiguousarray(images[start : start + self.embed_batch]))
                x = x.to(self.context.device).float().div_(255).unsqueeze(1)
                maps = network.backbone.stages(x)
                levels = levels or [[] for _ in maps]
                for level, feature_map in zip(levels, maps, strict=True):
                    level.append(feature_map.mean(dim=(2, 3)).cpu())
            if was_training:
                self._train_mode()
            return [torch.cat(level).double().numpy() for level in levels]

    def _fit_densities(self, train: ImageSet) -> None:
        from uadbench.methods.pretext.embedding_densities import LevelDensities

        p = self.params
        features = _Features(self, train.images)
        self.densities_ = {
            weights: [LevelDensities(p.bandwidth, p.k).fit(features(net)) for net in networks]
            for weights, networks in self.networks_.items()
        }

    def score_variants(self, images: np.ndarray) -> dict[str, np.ndarray]:
        features, variants = _Features(self, images), {}
        for weights, networks in self.networks_.items():
            per_network = [
                density.score(features(net))
                for density, net in zip(self.densities_[weights], networks, strict=True)
            ]
            for name in per_network[0]:
                mean = np.mean([scores[name] for scores in per_network], axis=0)
                variants[weights_variant(weights, name)] = mean
        return variants

    def anomaly_map(self, images: np.ndarray) -> np.ndarray:
        """Where the trained network's local features are rare among the training normals':
        PaDiM's Gaussian per feature-map position (``uadbench.methods.local_density``) on the
        reported weights' backbone, averaged over their networks. The CutPaste paper localises
        by the density of patch embeddings, from a second, patch-level model; this is the
        density of the trained network's own local features (the embeddings of its receptive
        fields), so the map comes from the model that gives the score. Grad-CAM would explain
        the pretext head, which no score uses."""
        from uadbench.methods.local_density import LocalDensity

        weights = "last" if self.params.weights_average == "none" else self.params.weights_average
        networks = self.networks_[weights]
        if not hasattr(self, "local_densities_"):
            self.local_densities_ = [
                LocalDensity(self.context.seed, self.context.device).fit(
                    network.backbone, self.train_images_
                )
                for network in networks
            ]
        maps = [
            density.anomaly_map(network.backbone, images)
            for density, network in zip(self.local_densities_, networks, strict=True)
        ]
        return np.mean(maps, axis=0)

    def _keep_if_better(
        self, best: tuple[float, Any], train: ImageSet, step: int
    ) -> tuple[float, Any]:
        from uadbench.statistics.metrics import auroc

        peek = self.context.labelled_test
        assert peek is not None, "the runner gives labels to label-using parameters only"
        self.networks_ = {"last": [self.network_]}
        self._fit_densities(train)
        value = auroc(peek.labels, self.score(peek.images))
        self.context.history.record(step, selection_test_auroc=value)
        if value > best[0]:
            return value, copy.deepcopy(self.network_.state_dict())
        return best

    def _pretext_accuracy(self, val: ImageSet) -> float:
        """Label-free check on held-out normals: how often augmented copies are recognised."""
        import torch
        from uadbench.methods.tensors import seeded_generator

        with torch.no_grad():
            device = self.context.device
            augment = self.augmentation(val)
            generator = seeded_generator(self.context.seed + 1)
            self.network_.eval()
            correct = total = 0
            for start in range(0, len(val), self.embed_batch):
                indices = torch.arange(start, min(start + self.embed_batch, len(val)))
                x = torch.from_numpy(
                    np.ascontiguousarray(val.images[start : start + self.embed_batch])
                )
                x = x.to(device).float() / 255
                batch, labels = pretext_batch(x, augment(x, indices, generator)[0])
                correct += int((self.network_(batch)[1].argmax(1) == labels).sum())
                total += len(labels)
            return correct / max(total, 1)


class _Features:
    """``level_features`` of one set of images, computed once per network."""

    def __init__(self, method: PretextMethod, images: np.ndarray) -> None:
        self.method, self.images = method, images
        self.done: dict[int, list[np.ndarray]] = {}

    def __call__(self, network: torch.nn.Module) -> list[np.ndarray]:
        if id(network) not in self.done:
            self.done[id(network)] = self.method.level_features(network, self.images)
        return self.done[id(network)]


class _Window:
    """The training loss and pretext accuracy of the steps since the last log, summed on the
    device; ``read`` is the one host synchronisation."""

    def __init__(self, device: str) -> None:
        import torch

        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.steps = self.seen = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss += loss.detach()
        self.correct += (logits.detach().argmax(1) == labels).sum()
        self.steps, self.seen = self.steps + 1, self.seen + len(labels)

    def read(self) -> tuple[float, float]:
        """Mean loss per step and accuracy over the window."""
        loss, correct = self.loss.item(), self.correct.item()
        return loss / self.steps, correct / self.seen


def pretext_batch(
    originals: torch.Tensor, views: list[tuple[torch.Tensor, int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Originals (class 0) and each augmented view (its class) as one ``(N, 1, H, W)`` batch."""
    import torch

    batch = torch.cat([originals, *(view for view, _ in views)]).unsqueeze(1)
    labels = [torch.zeros(len(originals), dtype=torch.long)]
    labels += [torch.full((len(originals),), label, dtype=torch.long) for _, label in views]
    return batch, torch.cat(labels).to(originals.device)


def _batches(n: int, batch_size: int, steps: int, generator: torch.Generator):
    """``steps`` index batches over shuffled epochs of ``range(n)`` (the last, short batch of an
    epoch is folded into the next permutation)."""
    import torch

    pending = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(pending) < batch_size:
            pending = torch.cat([pending, torch.randperm(n, generator=generator)])
        yield pending[:batch_size]
        pending = pending[batch_size:]
