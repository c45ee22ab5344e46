"""The seed projects' brain crop: keep the bounding box of the head, drop the black background.

Grey → Gaussian blur → threshold → erode/dilate → largest external contour (``head_outline``) →
crop to its extreme points (left, right, top, bottom) with a margin. This is the step the
brain-tumour MRI seed notebooks run before resizing; it is optional (the model card says whether a
model expects it). The out-of-distribution guard (app/core/model/ood.py) measures the same outline.
"""

from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 45  # on the 0..255 scale, as in the seeds
MIN_SIZE = 8  # a box smaller than this (pixels, either side) is noise: leave the image alone
# The seeds' erode/dilate kernel (OpenCV's default for kernel=None): a 3x3 square.
OPENING_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


def to_grey_uint8(image: np.ndarray) -> np.ndarray:
    """Any grey/colour, 8-bit/16-bit/float image → uint8 grey (min–max scaled when not uint8)."""
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr[:, :, :3].mean(axis=2) if arr.shape[2] >= 3 else arr[:, :, 0]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.any():
        return np.zeros(arr.shape, np.uint8)
    lo, hi = float(arr[finite].min()), float(arr[finite].max())
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    scaled = (np.where(finite, arr, lo) - lo) * (255.0 / (hi - lo))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def head_outline(grey: np.ndarray, threshold: int = THRESHOLD) -> np.ndarray | None:
    """The outer contour of the largest bright region of a 2-D uint8 grey image, as OpenCV's
    (N, 1, 2) array of x, y points in image coordinates; None when nothing is above ``threshold``.

    Gaussian blur → threshold → erode/dilate (twice each) → largest external contour.
    """
    blurred = cv2.GaussianBlur(grey, (5, 5), 0)
    _, mask = cv2.threshold(blurred, threshold, 255, cv2.THRESH_BINARY)
    mask = cv2.dilate(cv2.erode(mask, OPENING_KERNEL, iterations=2), OPENING_KERNEL, iterations=2)
    # A one-pixel black frame lets findContours close contours that touch the image border.
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    return largest - 1  # back in image coordinates


def brain_bbox(image: np.ndarray, margin: int = 0, threshold: int = THRESHOLD) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the largest bright region, as slice bounds
    (``image[top:bottom, left:right]``), grown by ``margin`` pixels and clipped to the image.

    None when nothing stands out (blank or flat image) or the region is a speck.
    """
    grey = to_grey_uint8(image)
    if grey.ndim != 2 or grey.size == 0:
        return None
    outline = head_outline(grey, threshold)
    if outline is None:
        return None
    xs, ys = outline[:, 0, 0], outline[:, 0, 1]  # its extreme points
    left, right, top, bottom = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    if right - left < MIN_SIZE or bottom - top < MIN_SIZE:
        return None
    rows, cols = grey.shape
    margin = max(int(margin), 0)
    return max(top - margin, 0), min(bottom + margin, rows), max(left - margin, 0), min(right + margin, cols)


def crop_to_brain(image: np.ndarray, margin: int = 0, threshold: int = THRESHOLD) -> np.ndarray:
    """``image`` cropped to ``brain_bbox``; the image itself (unchanged) when no brain is found."""
    box = brain_bbox(image, margin, threshold)
    if box is None:
        return image
    top, bottom, left, right = box
    return np.ascontiguousarray(image[top:bottom, left:right])
