"""The wheel built from the repository works when installed, away from the repository."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import TINY_SYNTHETIC

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel, and a fresh virtual environment with it installed (the heavy dependencies,
    torch and the rest, are taken from this interpreter's site-packages, as a path only)."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(REPO),
            "-w",
            str(base),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = base.glob("uadbench-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # plain paths (an editable install's import hook in there is not run): every site-packages
    # folder of this interpreter, the base interpreter's too when it runs in a virtual
    # environment that sees them
    paths = "".join(f"{folder}\n" for folder in site.getsitepackages())
    (Path(purelib) / "dependencies.pth").write_text(paths)
    return wheel, venv


def in_venv(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_wheel_installs_no_top_level_package_but_uadbench(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"uadbench", "uadbench-0.1.0.dist-info"}
    assert "uadbench/splits/zhanglab/uadbench-v1.csv.gz" in names
    assert "uadbench/reference/published_auroc.csv" in names
    assert "uadbench/methods/pretext/trainer.py" in names


def test_the_installed_package_runs_the_default_job_from_another_folder(installed, tmp_path):
    _, venv = installed
    python = str(venv / "bin" / "python")
    where = in_venv(
        [
            python,
            "-c",
            (
                "import uadbench, uadbench.data.split_files as s, uadbench.outputs.published as p, "
                "importlib.util as u, json; from uadbench import registry; "
                "print(json.dumps([uadbench.__file__, str(s.splits_dir()), p.TABLE.is_file(), "
                "registry.methods.get('ae').__module__, u.find_spec('methods') is None, "
                "len(s.read_split_file('zhanglab', 'uadbench-v1'))]))"
            ),
        ],
        tmp_path,
    )
    assert where.returncode == 0, where.stderr
    package, splits, table, module, no_methods, rows = json.loads(where.stdout)
    assert package.startswith(str(venv)) and splits.startswith(str(venv)) and table
    assert module == "uadbench.methods.ae" and no_methods and rows == 1965
    tiny = [a for k, v in TINY_SYNTHETIC.items() for a in ("--data-option", f"{k}={v}")]
    ran = in_venv(
        [
            str(venv / "bin" / "uadbench"),
            "run",
            "--param",
            "epochs=1",
            "--cache-dir",
            str(tmp_path / "cache"),
            *tiny,
        ],
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    [record] = (tmp_path / "results" / "runs" / "synthetic" / "ae").glob("*.json")
    assert json.loads(record.read_text())["status"] == "ok"


@pytest.mark.realdata
def test_the_installed_package_finds_zhanglab_and_its_splits(installed, shared_dir, tmp_path):
    _, venv = installed
    listed = in_venv(
        [
            str(venv / "bin" / "uadbench"),
            "datasets",
            "zhanglab",
            "--data-root",
            str(shared_dir / "data" / "zhanglab-224"),
        ],
        tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.strip("│┃ ").startswith("zh"))
    assert "found" in row and "uadbench-v1" in row and "1198" in row and "234/390" in row
