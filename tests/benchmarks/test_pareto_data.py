"""The pareto benchmark's data preparation: an archive of image folders unpacked and
decoded once into a cached uint8 .npz, and stratified training subsets."""

from __future__ import annotations

import struct
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pareto_bench.data import prepare_data, stratified_subset  # noqa: E402

CLASSES = ("cat", "dog", "frog")


def write_png(path: Path, pixels: np.ndarray) -> None:
    """A minimal RGB PNG (lossless, so decoding must give the pixels back exactly)."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].astype(np.uint8).tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """train: 4 images per class, test: 2 per class, each 6x6 RGB, in a .tar.xz holding one
    top-level folder (as a downloaded dataset archive often does)."""
    root = tmp_path_factory.mktemp("src") / "tiny-images"
    rng = np.random.default_rng(0)
    pixels = {}
    for split, count in (("train", 4), ("test", 2)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                image = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
                write_png(folder / f"{index:04d}.png", image)
                pixels[(split, label, index)] = image
    path = root.parent / "tiny-images.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        tar.add(root, arcname=root.name)
    return path, pixels


def test_archive_is_decoded_once_into_exact_uint8_arrays(archive, tmp_path):
    path, pixels = archive
    messages: list[str] = []
    prepared = prepare_data(str(path), train_images=None, seed=0, cache_dir=tmp_path, log=messages.append)
    assert (prepared.train_images, prepared.test_images) == (12, 6)
    with np.load(prepared.source) as data:
        assert data["x_train"].dtype == np.uint8 and data["x_train"].shape == (12, 6, 6, 3)
        # Classes sorted by name, files by name: the first train image is cat/0000.png.
        assert np.array_equal(data["x_train"][0], pixels[("train", 0, 0)])
        assert np.array_equal(data["x_test"][-1], pixels[("test", 2, 1)])
        assert list(data["y_train"]) == [0] * 4 + [1] * 4 + [2] * 4
    assert any("decoded 12 train + 6 test images" in m for m in messages)

    again: list[str] = []
    second = prepare_data(str(path), train_images=None, seed=0, cache_dir=tmp_path, log=again.append)
    assert second.source == prepared.source
    assert again == []  # nothing unpacked or decoded the second time


def test_training_subset_is_stratified_and_keeps_the_whole_test_split(archive, tmp_path):
    path, _ = archive
    prepared = prepare_data(str(path), train_images=6, seed=0, cache_dir=tmp_path, log=lambda _: None)
    assert (prepared.train_images, prepared.test_images) == (6, 6)
    with np.load(prepared.source) as data:
        assert np.bincount(data["y_train"]).tolist() == [2, 2, 2]
        assert len(data["y_test"]) == 6


def test_stratified_subset_depends_on_the_seed_only():
    labels = np.repeat(np.arange(10), 50)
    first = stratified_subset(labels, 100, seed=3)
    assert np.array_equal(first, stratified_subset(labels, 100, seed=3))
    assert not np.array_equal(first, stratified_subset(labels, 100, seed=4))
    assert np.bincount(labels[first]).tolist() == [10] * 10


def test_missing_data_is_refused_with_the_path(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        prepare_data(str(tmp_path / "nope.tar.xz"), train_images=None, seed=0, cache_dir=tmp_path,
                     log=lambda _: None)
