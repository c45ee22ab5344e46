"""On-the-fly augmentation (the seeds' ImageDataGenerator settings, as Keras layers) and the
tf.data input pipeline.

The seeds trained with small rotations, shifts, zoom, horizontal flips and brightness changes.
Vertical flips are off by default: an axial slice upside down puts the sella (pituitary) at the
top, which no real scan shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

UINT8_TO_UNIT = np.float32(1.0 / 255.0)  # same factor as app.core.model.preprocess.to_model_input


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 10.0
    shift: float = 0.1  # fraction of height/width
    zoom: float = 0.1  # fraction, in and out
    horizontal_flip: bool = True
    vertical_flip: bool = False
    brightness: float = 0.1  # added, as a fraction of the [0, 1] range
    contrast: float = 0.1  # factor range 1 ± contrast

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(0.0, 0.0, 0.0, False, False, 0.0, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)


def build_augmenter(config: AugmentConfig, seed: int | None = None) -> keras.Sequential | None:
    """A Keras model of random layers (active only with training=True); None when all are off."""
    steps: list[keras.layers.Layer] = []
    if config.horizontal_flip or config.vertical_flip:
        mode = {(True, False): "horizontal", (False, True): "vertical", (True, True): "horizontal_and_vertical"}
        steps.append(keras.layers.RandomFlip(mode[(config.horizontal_flip, config.vertical_flip)], seed=seed))
    if config.rotation_degrees > 0:
        steps.append(keras.layers.RandomRotation(config.rotation_degrees / 360.0, fill_mode="constant", seed=seed))
    if config.shift > 0:
        steps.append(keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="constant", seed=seed))
    if config.zoom > 0:
        steps.append(keras.layers.RandomZoom(config.zoom, config.zoom, fill_mode="constant", seed=seed))
    if config.brightness > 0:
        steps.append(keras.layers.RandomBrightness(config.brightness, value_range=(0.0, 1.0), seed=seed))
    if config.contrast > 0:
        steps.append(keras.layers.RandomContrast(config.contrast, seed=seed))
    if not steps:
        return None
    return keras.Sequential(steps, name="augment")


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    augmenter: keras.Sequential | None = None,
    seed: int = 0,
) -> tf.data.Dataset:
    """uint8 [N, S, S, 3] + labels → batches of (float32 in [0, 1], int labels).

    Samples are cached as uint8 (a quarter of the memory of float32: the Kaggle set at 224 px is
    ~1 GB) and converted to float per batch; shuffling and augmentation happen after the cache, so
    every epoch sees fresh random transforms; prefetch overlaps input with training.
    """
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64))).cache()
    if training:
        ds = ds.shuffle(max(len(labels), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def to_float(x, y):
        x = tf.cast(x, tf.float32) * UINT8_TO_UNIT
        if training and augmenter is not None:
            x = tf.clip_by_value(augmenter(x, training=True), 0.0, 1.0)
        return x, y

    return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
