"""Baselines trained from scratch on the benchmark's data, cached by content.

The cache key is a digest of everything that decides the trained weights: the dataset
file's bytes, the zoo model and its arguments, the training recipe and the versions of
TensorFlow/Keras and of the zoo code. The same data and recipe on another run (or
another --out) reuse the file; any change trains a new one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_CACHE = Path.home() / ".cache" / "netadapt" / "pareto_baselines"


@dataclass(frozen=True)
class BaselineRecipe:
    model: str  # a service.zoo name
    model_kwargs: tuple[tuple[str, Any], ...]
    epochs: int
    learning_rate: float
    batch_size: int
    augment: bool
    seed: int

    @property
    def label(self) -> str:
        extra = "".join(f"_{k}{v:g}" if isinstance(v, float) else f"_{k}{v}" for k, v in self.model_kwargs)
        return f"{self.model}{extra}"


def data_digest(source: str) -> str:
    """sha256 of the dataset file (or the name of a built-in dataset)."""
    path = Path(source)
    if not path.is_file():
        return hashlib.sha256(source.encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recipe_key(recipe: BaselineRecipe, data_sha256: str, image_shape: tuple[int, ...]) -> str:
    import keras
    import tensorflow as tf

    from service.zoo import blocks, registry

    builder_source = inspect.getsource(inspect.getmodule(registry.ZOO[recipe.model]))
    blocks_source = inspect.getsource(blocks)
    payload = {
        "recipe": asdict(recipe), "data": data_sha256, "image_shape": list(image_shape),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "zoo_code": hashlib.sha256((builder_source + blocks_source).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def trained_baseline(recipe: BaselineRecipe, dataset: Any, data: Any, cache_dir: Path,
                     log: Any = print) -> tuple[Path, dict[str, Any]]:
    """The cached baseline for `recipe` on `dataset` (loaded from the DataSpec `data`;
    trained now by `netadapt zoo train`'s code if missing): its path and a record (test
    accuracy, training seconds, whether it came from the cache)."""
    from service.cli.zoo_cmd import train_zoo_model

    key = recipe_key(recipe, data_digest(data.source), dataset.input_shape)
    path = cache_dir / f"{recipe.label}-{key}.keras"
    record_path = path.with_suffix(".json")
    if path.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
        log(f"baseline {recipe.label}: cached {path.name} (test accuracy {record['test_accuracy']:.2%}, "
            f"trained in {record['train_seconds']:.0f} s)")
        return path, {**record, "cached": True}
    log(f"baseline {recipe.label}: training {recipe.epochs} epochs from scratch ...")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.keras")
    started = time.perf_counter()
    accuracy = train_zoo_model(
        recipe.model, data, partial, epochs=recipe.epochs, batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, augment=recipe.augment, seed=recipe.seed,
        alpha=dict(recipe.model_kwargs).get("alpha"),
    )
    seconds = time.perf_counter() - started
    partial.replace(path)  # the cache holds whole files only
    record = {"test_accuracy": accuracy, "train_seconds": seconds, "key": key, "recipe": asdict(recipe)}
    record_path.write_text(json.dumps(record, indent=2))
    log(f"baseline {recipe.label}: {accuracy:.2%} test accuracy after {seconds:.0f} s")
    return path, {**record, "cached": False}
