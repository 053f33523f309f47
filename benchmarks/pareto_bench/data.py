"""The benchmark's data: an archive or image folder decoded once, cached as uint8 arrays.

`--data` may be an .npz with x_train/y_train/x_test/y_test, the name 'digits', an image
folder (DIR/train/<class>/*, DIR/test/<class>/*), or a tar archive of one (e.g.
../shared/datasets/cifar10-jpeg.tar.xz, the whole of CIFAR-10 as JPEG files). Archives and
folders are unpacked and decoded once, by the service's own image-folder reader, and kept
as an uncompressed .npz of uint8 pixels in the cache directory, keyed by the archive's
sha256 (a folder: by its file names and sizes). Every process of a run (NetAdapt's
workers too) then loads the same few hundred MB in about a second instead of decoding
60,000 JPEG files.

`--train-images N` keeps a stratified subset of N training images (the same per-class
share as the whole split; which images depends on the seed only), written as its own .npz
in the cache directory; the test split is always kept whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

Log = Callable[[str], None]
DEFAULT_DATA_CACHE = Path.home() / ".cache" / "netadapt" / "datasets"
ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class PreparedData:
    source: str  # what the service loads: an .npz path or "digits"
    train_images: int
    test_images: int
    description: str  # what it was made from, for the log and the JSON


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_digest(root: Path) -> str:
    listing = sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def _is_archive(path: Path) -> bool:
    return path.is_file() and any(path.name.endswith(s) for s in ARCHIVE_SUFFIXES)


def _image_root(unpacked: Path) -> Path:
    """The folder holding train/ and test/: the unpack directory or its single child."""
    if (unpacked / "train").is_dir():
        return unpacked
    children = [c for c in unpacked.iterdir() if c.is_dir()]
    if len(children) == 1 and (children[0] / "train").is_dir():
        return children[0]
    raise SystemExit(f"{unpacked} has no train/ and test/ image folders after unpacking")


def _unpack(archive: Path, into: Path, log: Log) -> Path:
    done = into / ".unpacked"
    if not done.is_file():
        shutil.rmtree(into, ignore_errors=True)
        into.mkdir(parents=True)
        log(f"data: unpacking {archive} into {into} (once)")
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
        done.write_text(archive.name)
    return _image_root(into)


def _decode_folder(root: Path, target: Path, log: Log) -> None:
    """Decode an image folder with the service's reader and store it as uint8 arrays."""
    import time

    from service.training.image_dir_source import load_image_dir_dataset

    started = time.perf_counter()
    dataset = load_image_dir_dataset(root)

    def as_uint8(images: np.ndarray) -> np.ndarray:
        # The reader scaled uint8 pixels by 1/255; this is its exact inverse.
        return np.rint(images * 255.0).astype(np.uint8)

    partial = target.with_name(target.stem + ".partial.npz")
    np.savez(partial, x_train=as_uint8(dataset.x_train), y_train=dataset.y_train,
             x_test=as_uint8(dataset.x_test), y_test=dataset.y_test)
    partial.replace(target)
    log(f"data: decoded {len(dataset.y_train)} train + {len(dataset.y_test)} test images from {root} "
        f"in {time.perf_counter() - started:.0f} s -> {target}")


def _decoded(source: Path, cache_dir: Path, log: Log) -> Path:
    """The cached .npz of an archive or image folder (made now if missing)."""
    if _is_archive(source):
        key = _sha256(source)[:16]
        stem = source.name.split(".tar")[0].removesuffix(".tgz")
        target = cache_dir / f"{stem}-{key}.npz"
        if not target.is_file():
            _decode_folder(_unpack(source, cache_dir / f"{stem}-{key}", log), target, log)
        return target
    key = _folder_digest(source)[:16]
    target = cache_dir / f"{source.name}-{key}.npz"
    if not target.is_file():
        _decode_folder(_image_root(source), target, log)
    return target


def stratified_subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` samples with every class at its share of `labels`."""
    from service.training.splits import stratified_split_indices

    _, chosen = stratified_split_indices(labels, count, seed)
    return chosen


def _subset(full: Path, train_images: int, seed: int, cache_dir: Path, log: Log) -> Path:
    target = cache_dir / f"{full.stem}-{_sha256(full)[:8]}-train{train_images}-seed{seed}.npz"
    if target.is_file():
        return target
    with np.load(full) as archive:
        arrays = {key: archive[key] for key in archive.files}
    if train_images >= len(arrays["y_train"]):
        return full
    chosen = stratified_subset(arrays["y_train"], train_images, seed)
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][chosen], arrays["y_train"][chosen]
    partial = target.with_name(target.stem + ".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(target)
    log(f"data: stratified subset of {train_images} training images (seed {seed}) -> {target}")
    return target


def prepare_data(source: str, *, train_images: int | None, seed: int, cache_dir: Path,
                 log: Log) -> PreparedData:
    """Bring `source` to something the service loads fast (see the module docstring)."""
    if source == "digits":
        from service.training.datasets import load_dataset

        dataset = load_dataset("digits")
        if train_images is not None and train_images < len(dataset.y_train):
            raise SystemExit("a training subset applies to .npz, image-folder and archive data, not digits")
        return PreparedData("digits", len(dataset.y_train), len(dataset.y_test), "digits")
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise SystemExit(f"--data {source} does not exist")
    cache_dir.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        npz, description = path, str(path)
    else:
        npz, description = _decoded(path, cache_dir, log), f"{path} (decoded once)"
    if train_images is not None:
        npz = _subset(npz, train_images, seed, cache_dir, log)
    with np.load(npz) as archive:
        train, test = len(archive["y_train"]), len(archive["y_test"])
    return PreparedData(str(npz), train, test, description)
