"""Command lines the integrity tests share: the CLI in this process, and the runs they start."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from uadbench.cli import app

from .conftest import PLUGINS, TINY_SYNTHETIC

MEAN = str(PLUGINS / "mean_distance.py")
FAULTS = str(PLUGINS / "faults.py")
cli = CliRunner()


def tiny(**changes: str) -> list[str]:
    """``--data-option`` arguments for the tiny synthetic data set, with ``changes``."""
    values = {**TINY_SYNTHETIC, **changes}
    return [a for k, v in values.items() for a in ("--data-option", f"{k}={v}")]


TINY = tiny()


def invoke(*args: object, **kwargs):
    """The ``uadbench`` command line with ``args``, in this process."""
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def mean_distance(results: Path, *args: object) -> list[object]:
    """``uadbench run`` of the mean-distance plugin into ``results``."""
    return ["run", "--results-dir", results, "--plugin", MEAN, "--method", "mean-distance", *args]


def steady(results: Path, seed: int, *args: object) -> list[object]:
    """``uadbench run`` of the fault plugin's ``steady`` method on its slow phantoms."""
    return [
        "run",
        "--results-dir",
        results,
        "--plugin",
        FAULTS,
        "--method",
        "steady",
        "--dataset",
        "slow-phantoms",
        "--seed",
        seed,
        *TINY,
        *args,
    ]
