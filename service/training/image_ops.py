"""Pixel-level conversions shared by the dataset loaders: scaling, resizing, channels."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from service.training.dataset_types import DatasetError

# Resizing goes through TensorFlow in chunks so a large dataset is never held twice as a
# float tensor on top of the numpy copy.
_RESIZE_CHUNK = 1024


def scale_to_unit(images: np.ndarray, what: str) -> np.ndarray:
    """uint8 (0..255) or uint16 (0..65535) -> float32 in [0, 1]; floats must already be there."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if images.dtype == np.uint16:
        return images.astype(np.float32) / 65535.0
    if np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
        if images.size and (not np.isfinite(images).all() or images.min() < 0 or images.max() > 1):
            raise DatasetError(
                f"{what} is floating point but not within [0, 1] (found "
                f"{np.nanmin(images):g}..{np.nanmax(images):g}); store uint8 pixels (0..255) "
                f"or scale the floats to [0, 1]"
            )
        return images
    raise DatasetError(
        f"{what} has dtype {images.dtype}; store images as uint8 (0..255) or float in [0, 1]"
    )


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of NHWC float images to `size` = (height, width)."""
    height, width = _checked_size(size)
    if images.shape[1:3] == (height, width):
        return images
    chunks = [
        tf.image.resize(
            images[start : start + _RESIZE_CHUNK], (height, width), method="bilinear",
            antialias=True,
        ).numpy()
        for start in range(0, len(images), _RESIZE_CHUNK)
    ]
    # Antialiasing weights are non-negative but rounding can step a hair outside [0, 1].
    return np.clip(np.concatenate(chunks), 0.0, 1.0).astype(np.float32)


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of (N, H, W) integer masks, so no new class ids appear."""
    height, width = _checked_size(size)
    if masks.shape[1:3] == (height, width):
        return masks
    resized = tf.image.resize(masks[..., None], (height, width), method="nearest").numpy()
    return resized[..., 0].astype(masks.dtype)


def drop_alpha(images: np.ndarray) -> np.ndarray:
    """Grey+alpha -> grey and RGBA -> RGB (channels last); the models take no alpha."""
    if images.shape[-1] in (2, 4):
        return images[..., : images.shape[-1] - 1]
    return images


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Convert channels-last images between 1 (grayscale) and 3 (RGB) channels."""
    if channels not in (1, 3):
        raise DatasetError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    current = images.shape[-1]
    if current == channels:
        return images
    if current == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if current == 3 and channels == 1:
        # A plain average as asked for, not luma weights: the models learn their own
        # colour weighting, and averaging keeps the conversion symmetric with `repeat`.
        return images.mean(axis=-1, keepdims=True, dtype=np.float32)
    raise DatasetError(f"cannot convert images with {current} channels to {channels}")


def _checked_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or any(int(side) < 1 for side in size):
        raise DatasetError(f"image_size must be (height, width) with positive sides, got {size}")
    return int(size[0]), int(size[1])
