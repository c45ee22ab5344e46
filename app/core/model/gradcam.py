"""Grad-CAM post-processing as small pure steps: normalise, upsample, colour, overlay.

The model already returns the raw Grad-CAM of every class (Selvaraju et al., "Grad-CAM: Visual
Explanations from Deep Networks via Gradient-based Localization", ICCV 2017):
``ReLU(sum_k alpha_k^c A_k)`` at the card's ``gradcam_shape``. Here it becomes a picture:

    cam (h, w) --normalise_cam--> [0, 1] --upsample_cam--> scan (H, W) --colorize/overlay--> RGB

The map of any class can be shown, not only the predicted one.
"""

from __future__ import annotations

import cv2
import numpy as np

from app.core.model.preprocess import to_rgb_uint8

# Perceptual (monotonic lightness) maps first; "jet" is offered because clinicians know it.
COLORMAPS: dict[str, int] = {
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "plasma": cv2.COLORMAP_PLASMA,
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
}
DEFAULT_COLORMAP = "inferno"

Box = tuple[int, int, int, int]  # (top, bottom, left, right) as app.core.scans.crop.brain_bbox: image[top:bottom, left:right]


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """ReLU then per-map min-max to [0, 1] (float32).

    A map with no positive evidence (all zero after ReLU) or a flat map stays all zero:
    there is nothing to localise, and no NaN can appear.
    """
    cam = np.maximum(np.nan_to_num(np.asarray(cam, dtype=np.float32)), 0.0)
    if cam.ndim not in (2, 3):
        raise ValueError(f"expected a (h, w) map or a (C, h, w) stack, got shape {cam.shape}")
    if cam.ndim == 3:
        return np.stack([normalise_cam(m) for m in cam])
    lo, hi = float(cam.min()), float(cam.max())
    if hi - lo <= 1e-12 * max(1.0, hi):
        return np.zeros_like(cam)
    return (cam - lo) / np.float32(hi - lo)


def upsample_cam(
    cam01: np.ndarray,
    shape: tuple[int, int],
    box: Box | None = None,
    interpolation: str = "cubic",
) -> np.ndarray:
    """A normalised (h, w) map resized to the scan's (H, W), values kept in [0, 1].

    ``box`` is where the model's input came from when the image was cropped to the brain: the map
    is resized to the box and placed there, zero outside it.
    """
    flags = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
    height, width = int(shape[0]), int(shape[1])
    top, bottom, left, right = box if box is not None else (0, height, 0, width)
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise ValueError(f"crop box {box} does not fit in an image of shape {shape}")
    resized = cv2.resize(
        np.asarray(cam01, dtype=np.float32),
        (right - left, bottom - top),
        interpolation=flags[interpolation],
    )
    resized = np.clip(resized, 0.0, 1.0)
    if box is None:
        return resized
    out = np.zeros((height, width), dtype=np.float32)
    out[top:bottom, left:right] = resized
    return out


def colorize(cam01: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A [0, 1] map → uint8 RGB (H, W, 3) through a named colour map."""
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colour map {colormap!r}; choose one of {sorted(COLORMAPS)}")
    levels = np.round(np.clip(np.nan_to_num(cam01), 0.0, 1.0) * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(levels, COLORMAPS[colormap])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def overlay(
    display: np.ndarray,
    cam01: np.ndarray,
    opacity: float = 0.4,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """The scan (uint8 grey or RGB) with the coloured map blended on top, uint8 RGB.

    ``opacity`` is the heatmap's weight: 0 shows the scan alone, 1 the heatmap alone. The map
    is upsampled to the scan first if its shape differs.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    base = to_rgb_uint8(np.asarray(display))
    if cam01.shape != base.shape[:2]:
        cam01 = upsample_cam(cam01, base.shape[:2])
    heat = colorize(cam01, colormap).astype(np.float32)
    blended = base.astype(np.float32) * (1.0 - opacity) + heat * opacity
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def class_heatmap(
    cams: np.ndarray,
    class_index: int,
    shape: tuple[int, int],
    box: Box | None = None,
) -> np.ndarray:
    """The [0, 1] map of one class (any class, not only the predicted one) at the scan's size."""
    return upsample_cam(normalise_cam(cams[class_index]), shape, box)
