"""Per-image test correctness of a model, compiled, and kept compactly in the JSON.

Every method is scored on the same test images, so comparisons can be paired (see
pareto_bench.paired). A point keeps which images it got right as packed bits in base64:
10,000 images are 1,668 characters.
"""

from __future__ import annotations

import base64

import numpy as np

CHUNK = 500  # images per compiled forward pass (the last chunk padded, so one trace)


def test_correctness(model: object, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean per test image: the model's argmax equals the label (inference mode)."""
    import tensorflow as tf

    # One tf.function per model is the point (each model is traced once for all its
    # chunks); TensorFlow warns about "retracing" when many are created in one process.
    tf.get_logger().setLevel("ERROR")
    forward = tf.function(lambda images: tf.argmax(model(images, training=False), axis=-1),
                          reduce_retracing=True)
    size = min(CHUNK, len(x))
    predicted = []
    for start in range(0, len(x), size):
        images = np.asarray(x[start:start + size], np.float32)
        count = len(images)
        if count < size:
            images = np.concatenate([images, np.zeros((size - count, *images.shape[1:]), np.float32)])
        predicted.append(forward(tf.constant(images)).numpy()[:count])
    return np.concatenate(predicted) == np.asarray(y).reshape(-1)


def pack(correct: np.ndarray) -> str:
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode("ascii")


def unpack(packed: str, count: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(base64.b64decode(packed), dtype=np.uint8))
    return bits[:count].astype(bool)
