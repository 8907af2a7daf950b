import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from uadbench.contracts.dataset import (
    DataNotFoundError,
    Dataset,
    SplitTableError,
    validate_split_table,
)
from uadbench.contracts.extras import register_extra
from uadbench.data.prepare import prepare
from uadbench.data.readers.synthetic import SyntheticChest
from uadbench.image_files import ImageReadError

from .conftest import TINY_SYNTHETIC


def tiny_synthetic(**changes) -> SyntheticChest:
    return SyntheticChest.from_settings(None, {**TINY_SYNTHETIC, **changes})


def test_second_preparation_reads_no_image(tmp_path, monkeypatch):
    first = prepare(tiny_synthetic(), 32, tmp_path)
    monkeypatch.setattr(SyntheticChest, "read_image", lambda *a: pytest.fail("images re-read"))
    second = prepare(tiny_synthetic(), 32, tmp_path)
    assert second.folder == first.folder
    assert np.array_equal(np.asarray(first.images), np.asarray(second.images))
    assert len(first.split("train")) == 40 and len(first.split("val")) == 8
    assert first.labels("test").tolist() == [0] * 12 + [1] * 12


def test_cache_is_keyed_by_split_version_and_size(tmp_path):
    a = prepare(tiny_synthetic(), 32, tmp_path)
    b = prepare(tiny_synthetic(), 64, tmp_path)
    c = prepare(tiny_synthetic(data_seed="7"), 32, tmp_path)
    assert len({a.folder, b.folder, c.folder}) == 3
    assert b.images.shape == (72, 64, 64)
    assert not np.array_equal(np.asarray(a.images), np.asarray(c.images))


def test_a_changed_table_under_the_same_version_rebuilds(tmp_path, monkeypatch):
    prepare(tiny_synthetic(), 32, tmp_path)
    original = SyntheticChest.split_table

    def fewer(self):
        table = original(self)
        return table.drop(index=0)

    monkeypatch.setattr(SyntheticChest, "split_table", fewer)
    rebuilt = prepare(tiny_synthetic(), 32, tmp_path)
    assert rebuilt.images.shape[0] == 71
    assert not list(tmp_path.rglob(".*building*"))


def table(**columns):
    base = {
        "id": ["a", "b", "c", "d"],
        "source": ["a", "b", "c", "d"],
        "label": [0, 0, 0, 1],
        "split": ["train", "val", "test", "test"],
    }
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"split": None}, "lacks column.*split"),
        ({"id": ["a", "a", "c", "d"]}, "repeats 1 id"),
        ({"split": ["train", "valid", "test", "test"]}, r"split value\(s\) \['valid'\]"),
        ({"label": [0, 0, 0, 2]}, r"label value\(s\) \[2\]"),
        ({"label": [1, 0, 0, 1]}, "1 abnormal image.*train/val"),
        ({"label": [0, 0, 0, 0]}, "needs normal and abnormal test images"),
        ({"split": ["val", "val", "test", "test"]}, "no training images"),
    ],
)
def test_split_table_errors(columns, message):
    with pytest.raises(SplitTableError, match=message):
        validate_split_table(table(**columns), "demo")


class FileDataset(Dataset):
    """PNG files listed in a fixed table."""

    name = "files"

    @property
    def split_version(self) -> str:
        return "v1"

    def split_table(self) -> pd.DataFrame:
        return table(source=["a.png", "b.png", "c.png", "d.png"])


def write_pngs(root: Path, names=("a.png", "b.png", "c.png", "d.png")) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((40, 30, 3), 50 * i, np.uint8)).save(root / name)


def test_file_images_become_resized_grayscale(tmp_path):
    write_pngs(tmp_path / "data")
    prepared = prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache")
    assert prepared.images.shape == (4, 16, 16)
    assert [int(prepared.images[i].mean()) for i in range(4)] == [0, 50, 100, 150]


def test_missing_files_are_counted_and_named_before_any_work(tmp_path):
    write_pngs(tmp_path / "data", names=("a.png", "b.png"))
    with pytest.raises(DataNotFoundError, match=r"2 of 4 images .* absent .*e\.g\. c\.png, d\.png"):
        prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache")


def test_a_missing_root_says_where_it_looked(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)'files' not found at .*nowhere.*--data-root"):
        prepare(FileDataset(tmp_path / "nowhere"), 16, tmp_path / "cache")


def test_a_corrupt_image_is_named(tmp_path):
    write_pngs(tmp_path / "data")
    (tmp_path / "data" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageReadError, match=r"cannot read image .*c.png.*--skip-unreadable"):
        prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache")


calls = []


@register_extra("test-dark-pixels", version=1)
def dark_pixels(image: np.ndarray) -> np.ndarray:
    calls.append(1)
    return image < 60


def test_extras_are_computed_once_per_split_and_cached(tmp_path):
    calls.clear()
    data = prepare(tiny_synthetic(), 32, tmp_path)
    first = data.split("train", extras=["test-dark-pixels"])
    assert first.extras["test-dark-pixels"].shape == (40, 32, 32)
    assert len(calls) == 40
    again = prepare(tiny_synthetic(), 32, tmp_path).split("train", extras=["test-dark-pixels"])
    assert len(calls) == 40
    assert np.array_equal(again.extras["test-dark-pixels"], first.images < 60)


def test_an_unregistered_extra_is_named(tmp_path):
    data = prepare(tiny_synthetic(), 32, tmp_path)
    with pytest.raises(KeyError, match="no per-image extra named 'lungs'"):
        data.split("train", extras=["lungs"])


def test_decoding_in_worker_processes_gives_the_same_images_and_the_same_errors(
    tmp_path, monkeypatch
):
    dataset = tiny_synthetic(n_train="300")
    serial = prepare(dataset, 32, tmp_path / "one", workers=1)
    parallel = prepare(dataset, 32, tmp_path / "two", workers=2)
    assert np.array_equal(serial.images, parallel.images)

    read = SyntheticChest.read_image
    bad = serial.table["source"].iat[200]

    def one_unreadable(self, source, size):
        if source == bad:
            raise ImageReadError(source, "truncated")
        return read(self, source, size)

    monkeypatch.setattr(SyntheticChest, "read_image", one_unreadable)  # forked workers see it
    with pytest.raises(ImageReadError, match="truncated"):
        prepare(dataset, 48, tmp_path / "three", workers=2)
    kept = prepare(dataset, 48, tmp_path / "four", skip_unreadable=True, workers=2)
    assert [s["source"] for s in kept.skipped] == [bad]


# -- issue 27: cached arrays checked on every read; images too small to be radiographs -------


def test_a_cached_array_changed_in_place_is_made_again_saying_so(tmp_path, monkeypatch):
    from uadbench.data.prepare import CacheChecksumWarning

    first = prepare(tiny_synthetic(), 32, tmp_path)
    pixels = np.array(first.images)
    array = first.folder / "images.npy"
    size = array.stat().st_size
    changed = np.load(array, mmap_mode="r+")
    changed[0, 0, 0] ^= 1  # one bit of one pixel, the file's size the same
    changed.flush()
    del changed
    assert array.stat().st_size == size
    with pytest.warns(CacheChecksumWarning, match=r"images.npy changed since it was written"):
        again = prepare(tiny_synthetic(), 32, tmp_path)
    assert np.array_equal(np.asarray(again.images), pixels)
    monkeypatch.setattr(SyntheticChest, "read_image", lambda *a: pytest.fail("images re-read"))
    prepare(tiny_synthetic(), 32, tmp_path)  # made again once: read as it is now


def test_a_cache_made_before_checksums_is_made_again(tmp_path, monkeypatch):
    first = prepare(tiny_synthetic(), 32, tmp_path)
    meta = first.folder / "meta.json"
    older = {k: v for k, v in json.loads(meta.read_text()).items() if k != "images_sha256"}
    meta.write_text(json.dumps(older))
    read = SyntheticChest.read_image
    reads = []
    monkeypatch.setattr(SyntheticChest, "read_image", lambda *a: reads.append(1) or read(*a))
    again = prepare(tiny_synthetic(), 32, tmp_path, workers=1)
    assert len(reads) == 72 and "images_sha256" in json.loads(meta.read_text())
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))


def test_a_cached_extra_changed_in_place_is_computed_again(tmp_path):
    from uadbench.data.prepare import CacheChecksumWarning

    data = prepare(tiny_synthetic(), 32, tmp_path)
    masks = data.split("train", extras=["test-dark-pixels"]).extras["test-dark-pixels"]
    [path] = (data.folder / "extras").glob("test-dark-pixels-*.npy")
    changed = np.load(path, mmap_mode="r+")
    changed[0] = ~changed[0]
    changed.flush()
    del changed
    calls.clear()
    with pytest.warns(CacheChecksumWarning, match="test-dark-pixels-v1-train.npy changed"):
        again = data.split("train", extras=["test-dark-pixels"]).extras["test-dark-pixels"]
    assert np.array_equal(again, masks) and len(calls) == 40


@pytest.mark.parametrize(("shape", "readable"), [((1, 1), False), ((40, 7), False), ((8, 8), True)])
def test_an_image_under_8_pixels_a_side_is_no_radiograph_and_is_named(tmp_path, shape, readable):
    write_pngs(tmp_path / "data")
    Image.fromarray(np.full(shape, 90, np.uint8)).save(tmp_path / "data" / "d.png")
    if readable:
        assert (
            prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache").images[3].mean() == 90
        )
        return
    height, width = shape
    named = rf"cannot read image .*d\.png: it is {width} x {height} pixels, under 8 on a side"
    with pytest.raises(ImageReadError, match=named):
        prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache")
    kept = prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache", skip_unreadable=True)
    assert [s["source"] for s in kept.skipped] == ["d.png"]
    built = (kept.folder / "meta.json").stat().st_mtime_ns
    prepare(FileDataset(tmp_path / "data"), 16, tmp_path / "cache", skip_unreadable=True)
    assert (kept.folder / "meta.json").stat().st_mtime_ns == built  # not taken as readable now
