"""Where a run executes: device choice, seeding, and the versions recorded with every result."""

from __future__ import annotations

import os
import platform
import random
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from uadbench.errors import UserError

RECORDED_PACKAGES = (
    "uadbench",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "pandas",
    "pillow",
    "pydicom",
    "anomalib",
    "timm",
)


class DeviceError(UserError, RuntimeError):
    """A device was asked for that this machine does not have."""


def resolve_device(choice: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one fails."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            f"--device {choice} asked for a CUDA GPU, but torch {torch.__version__} sees none; "
            "use --device cpu (or auto)"
        )
    if choice != "cpu" and not choice.startswith("cuda"):
        raise DeviceError(f"unknown device {choice!r}; use auto, cpu, cuda or cuda:N")
    return choice


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask cuDNN for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a result (absent ones omitted)."""
    found = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def device_info(device: str) -> dict[str, Any]:
    """The hardware a run used."""
    import torch

    info: dict[str, Any] = {
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
        info["cuda"] = torch.version.cuda
    return info
