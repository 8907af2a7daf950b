"""Keeping anomalib offline and quiet: its log and warnings muted while a model runs, a
download attempt turned into an error that says so, and pretrained backbones served from this
machine's disk (EfficientNet-Lite0 from its package, ResNet-18 from the torch cache) or
refused, naming what the model wanted."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LITE0 = "efficientnet_lite0"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
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
def no_downloads(model: str) -> Iterator[None]:
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
def offline_backbones(weights: str) -> Iterator[None]:
    """While a model is built, a timm request for pretrained EfficientNet-Lite0 is served from
    the local package, one for ResNet-18 from torchvision's file in the local torch cache (timm's
    ResNet-18 has torchvision's parameter names); a torchvision request is served only for that
    file, and only with ``weights=resnet18``. Any other request, or any request at all with
    ``weights=none``, fails naming what the model wanted."""
    import timm
    import torchvision.models._api as torchvision_weights

    original = timm.create_model
    original_from_url = torchvision_weights.load_state_dict_from_url
    timm.create_model = _timm_from_disk(original, weights)
    served = _torchvision_from_disk(original_from_url, weights)
    torchvision_weights.load_state_dict_from_url = served
    try:
        yield
    finally:
        timm.create_model = original
        torchvision_weights.load_state_dict_from_url = original_from_url


def _unswitchable(what: str) -> Exception:
    from uadbench.methods.backbones import WeightsNotFoundError

    return WeightsNotFoundError(
        f"anomalib asked for {what} although weights=none: the model has no switch to turn "
        "pretraining off, so it cannot run here with random weights"
    )


def _timm_from_disk(original: Callable[..., Any], weights: str) -> Callable[..., Any]:
    """``timm.create_model`` that takes pretrained weights from this machine's disk only."""
    import torch
    from uadbench.methods.backbones import (
        WeightsNotFoundError,
        efficientnet_lite0_weights_file,
        resnet18_weights_file,
    )

    def create_model(model_name: str, pretrained: bool = False, **kwargs: Any) -> Any:
        # timm's own argument name: anomalib passes it by keyword too
        if not pretrained:
            return original(model_name, pretrained=False, **kwargs)
        if weights == "none":
            raise _unswitchable(f"pretrained {model_name!r} weights")
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

    return create_model


def _torchvision_from_disk(original: Callable[..., Any], weights: str) -> Callable[..., Any]:
    """torchvision's ``load_state_dict_from_url`` that serves ResNet-18's file from the local
    torch cache, with ``weights=resnet18`` only."""
    from uadbench.methods.backbones import (
        RESNET18_FILE,
        WeightsNotFoundError,
        resnet18_weights_file,
    )

    def load_state_dict_from_url(url: str, *args: Any, **kwargs: Any) -> Any:
        if weights == "none":
            raise _unswitchable(url)
        if weights != "resnet18" or Path(url).name != RESNET18_FILE:
            raise WeightsNotFoundError(
                f"anomalib asked torchvision for {url}, which would be downloaded, and "
                f"weights={weights} does not name it; uadbench runs offline: use weights=none, "
                "or weights=efficientnet-lite0 or weights=resnet18 where the model takes them"
            )
        local = resnet18_weights_file()
        return original(
            url, *args, **{**kwargs, "model_dir": str(local.parent), "file_name": local.name}
        )

    return load_state_dict_from_url
