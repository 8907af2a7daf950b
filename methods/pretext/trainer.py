"""The two-stage method shared by AnatPaste and CutPaste: learn to tell originals from
augmented images, then score test images by a density of the learned embeddings.

``PretextMethod`` is a ``Method`` whose subclasses only say which augmentation they use. Its
``fit`` trains the classifier on batches of training normals plus their augmented copies
(cross-entropy, originals class 0); its ``score`` embeds images with the backbone (the head is
not used), L2-normalises the embeddings and scores them by a Gaussian kernel density
(bandwidth 1, AnatPaste's default) and by a Gaussian with a Ledoit-Wolf covariance (CutPaste's
default) fitted on the training normals. Both scores are recorded; ``reported`` names the
reported one. The last checkpoint is used: no labels are needed to choose it.
``select_checkpoint_by_test_auroc`` replicates the reference code's selection instead, which
looks at test labels; the run record and the leaderboard then say so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from uadbench import ImageSet, Method
from uadbench.contracts.method import POSITIVE, Range, at_least

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
    reported: Literal["kde", "gaussian"] = "kde"
    """The reported density: Gaussian kernel density (``kde``) or Ledoit-Wolf Gaussian."""
    bandwidth: float = 1.0
    """Bandwidth of the Gaussian kernel density (``kde``), on standardised embeddings."""
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
        if params.weights == "imagenet":
            build_backbone(params.backbone, params.weights)  # fails now, naming the file

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
        from uadbench.methods.tensors import seeded_generator

        p, ctx = self.params, self.context
        device = ctx.device
        images = torch.from_numpy(np.ascontiguousarray(train.images)).to(device)
        augment = self.augmentation(train)
        self.network_ = PretextNetwork(p.backbone, p.weights, augment.n_classes).to(device)
        layout = torch.channels_last if p.channels_last else torch.contiguous_format
        self.network_ = self.network_.to(memory_format=layout)
        optimizer, schedule = self._optimiser()
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
        if best[1] is not None:
            self.network_.load_state_dict(best[1])
        self._fit_densities(train)
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

    def _optimiser(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        import torch

        p = self.params
        parameters = self.network_.parameters()
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

    def embed(self, images: np.ndarray) -> np.ndarray:
        """L2-normalised backbone embeddings of uint8 images ``(N, H, W)``."""
        import torch
        from uadbench.methods.densities import l2_normalise

        with torch.no_grad():
            was_training = self.network_.training
            self.network_.eval()
            out = []
            for start in range(0, len(images), self.embed_batch):
                x = torch.from_numpy(np.ascontiguousarray(images[start : start + self.embed_batch]))
                x = x.to(self.context.device).float().div_(255).unsqueeze(1)
                out.append(self.network_.backbone(x).cpu())
            if was_training:
                self._train_mode()
            return l2_normalise(torch.cat(out).numpy())

    def _fit_densities(self, train: ImageSet) -> None:
        from uadbench.methods.densities import GaussianDensity, GaussianKDE

        embeddings = self.embed(train.images)
        self.densities_ = {
            "kde": GaussianKDE(self.params.bandwidth).fit(embeddings),
            "gaussian": GaussianDensity().fit(embeddings),
        }

    def score_variants(self, images: np.ndarray) -> dict[str, np.ndarray]:
        embeddings = self.embed(images)
        return {name: density.score(embeddings) for name, density in self.densities_.items()}

    def _keep_if_better(
        self, best: tuple[float, Any], train: ImageSet, step: int
    ) -> tuple[float, Any]:
        from uadbench.statistics.metrics import auroc

        peek = self.context.labelled_test
        assert peek is not None, "the runner gives labels to label-using parameters only"
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
