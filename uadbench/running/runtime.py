"""Where a run executes: device choice, seeding, and what every record keeps of the machine and
the code (versions, CPU and GPU model, the git commit of a checkout, peak memory)."""

from __future__ import annotations

import functools
import os
import platform
import random
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
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
    """Seed Python, NumPy and torch (CPU and CUDA), ask cuDNN for deterministic kernels and keep
    MKL's thread count fixed (torch's ``set_num_threads`` turns MKL's dynamic choice off)."""
    import torch

    torch.set_num_threads(torch.get_num_threads())
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
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "mkl_reproducibility": os.environ.get("MKL_CBWR"),
        "platform": platform.platform(),
    }
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
        info["cuda"] = torch.version.cuda
    return info


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else the platform's), if known."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or None


CODE_PATHS = ("uadbench", "methods", "datasets", "results/reference", "pyproject.toml")
"""What a checkout installs (pyproject.toml's package folders): its code, split files and
reference tables; results, docs, tests and benchmarks are not what a run computes with."""


@functools.cache
def code_version() -> dict[str, Any]:
    """The git commit of the uadbench checkout that runs (and whether its code had uncommitted
    changes), as the process found it on first asking: the code it imported then is the code
    that runs, however many cells follow. Empty for an installed package."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        return {}
    try:
        commit = _git(checkout, "rev-parse", "HEAD")
        dirty = uncommitted_code(checkout)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "uncommitted_changes": dirty}


def uncommitted_code(checkout: Path) -> bool:
    """Whether ``checkout`` has changed or new files in ``CODE_PATHS`` that are not committed
    (a record written to the checkout's own results folder is not a change of its code)."""
    return bool(_git(checkout, "status", "--porcelain", "--", *CODE_PATHS))


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


class PeakMemory:
    """The peak resident memory of one run, started when made. Linux lets a process's peak be
    reset (``/proc/self/clear_refs``), so a run's peak is its own even after other runs in the
    same process; where it cannot be reset the process's peak (``ru_maxrss``) is reported only
    for the process's first run, and later runs report none rather than an earlier run's."""

    _made = 0  # runs measured in this process

    def __init__(self) -> None:
        self.reset = _reset_peak()
        self.own = self.reset or PeakMemory._made == 0
        PeakMemory._made += 1

    def timings(self) -> dict[str, float]:
        """``{"peak_memory_mb": <MiB>}``, or nothing where the peak is not this run's alone or
        the system does not say (Windows)."""
        kib = _vm_hwm_kib() if self.reset else _max_rss_kib()
        if not self.own or kib is None:
            return {}
        return {"peak_memory_mb": round(kib / 1024, 1)}


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5" resets the peak RSS (VmHWM)
    except OSError:
        return False
    return _vm_hwm_kib() is not None


def _vm_hwm_kib() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    lines = [line.split() for line in status.splitlines() if line.startswith("VmHWM:")]
    return float(lines[0][1]) if lines else None  # "VmHWM:   123456 kB"


def _max_rss_kib() -> float | None:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 1024 if platform.system() == "Darwin" else float(peak)
