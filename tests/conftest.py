"""Shared fixtures: an isolated cache, offline hubs, the shared real data, tiny data sets."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from uadbench import registry

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the tests may download weights

SHARED_ENV = "UADBENCH_SHARED_DIR"
PLUGINS = Path(__file__).parent / "plugins"

# Small enough that a test run takes seconds.
TINY_SYNTHETIC = {
    "n_train": "40",
    "n_val": "8",
    "n_test_normal": "12",
    "n_test_abnormal": "12",
}


@contextmanager
def plugins_forgotten() -> Iterator[None]:
    """Forget, at the end of the block, the plugins registered in it."""
    saved = [(r, dict(r._plugins), dict(r._loaded)) for r in (registry.methods, registry.datasets)]
    try:
        yield
    finally:
        for reg, plugins, loaded in saved:
            reg._plugins, reg._loaded = plugins, loaded


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables in ``text``, stripped (rules left out)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|") and not set(line) <= set("|-: ")
    ]


ZHANGLAB_RESULTS = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick"


def committed_board_rows() -> int:
    """How many rows the committed ZhangLab ``leaderboard.md`` has (its numbered lines)."""
    text = (ZHANGLAB_RESULTS / "leaderboard.md").read_text()
    return sum(row[0].isdigit() for row in markdown_rows(text))


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets a session-wide private cache, no plugins from the environment, and
    forgets the plugins it registered."""
    monkeypatch.setenv("UADBENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("UADBENCH_PLUGINS", raising=False)
    with plugins_forgotten():
        yield


@pytest.fixture
def plugin_file(tmp_path: Path) -> Path:
    """The mean-distance method plugin, copied to a folder outside the repository."""
    target = tmp_path / "elsewhere" / "mean_distance.py"
    target.parent.mkdir()
    shutil.copy(PLUGINS / "mean_distance.py", target)
    return target


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared read-only material. Skips when UADBENCH_SHARED_DIR is unset (a developer's
    machine without it); fails when it is set and the folder is not there (CI)."""
    value = os.environ.get(SHARED_ENV)
    if not value:
        pytest.skip(f"{SHARED_ENV} is not set; .ci/run sets it to the shared data folder")
    path = Path(value)
    if not (path / "data").is_dir():
        pytest.fail(f"{SHARED_ENV}={value} but {path / 'data'} does not exist")
    return path


@pytest.fixture
def resnet18_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A stand-in for torchvision's ResNet-18 file in a private torch cache."""
    import torch
    import torchvision
    from uadbench.methods.backbones import RESNET18_FILE

    home = tmp_path_factory.mktemp("torch-home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    path = home / "hub" / "checkpoints" / RESNET18_FILE
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


BROWSER_ENV = "UADBENCH_CHROMIUM"


@pytest.fixture
def chromium() -> str:
    """Debian's chromium. Skips where UADBENCH_CHROMIUM is unset (a developer's machine
    without it); fails where it is set (CI) and the browser or Playwright is missing."""
    path = os.environ.get(BROWSER_ENV)
    if not path:
        pytest.skip(f"{BROWSER_ENV} is not set; .ci/run sets it to Debian's chromium")
    if not Path(path).is_file():
        pytest.fail(f"{BROWSER_ENV}={path} but there is no such file")
    return path
