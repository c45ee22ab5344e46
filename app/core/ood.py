"""The first out-of-distribution guard: does this input look like an axial brain MRI slice?

Only signals that can be measured and tested are used:

- ``blank_image``: almost no structure (near-constant, or almost nothing above the background);
- ``colour_image``: clearly coloured pixels (MRI is grey; a photo or a screenshot is not);
- ``no_head_contour``: the seeds' crop step finds no head-sized bright region;
- ``embedding_outlier``: the model's embedding is far from the reference images', when the card
  carries ``ood_reference`` (a mean embedding, a metric and a distance threshold).

Any of them makes the result "not assessed": the class is not shown as a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.crop import brain_bbox

BLANK_STD = 4.0  # grey levels (of 255): below this the image is flat
FOREGROUND_LEVEL = 30  # grey level separating tissue from the dark background
MIN_FOREGROUND_FRACTION = 0.03
MAX_CHROMA = 12.0  # mean |channel - grey| in grey levels; JPEG noise on grey images stays far below
MIN_HEAD_FRACTION = 0.04  # the head's box must cover at least this share of the image


@dataclass(frozen=True)
class ImageSignals:
    """Cheap measurements of a display image, taken before it is resized for the model."""

    std: float
    foreground_fraction: float
    chroma: float
    head_box: tuple[int, int, int, int] | None  # (top, bottom, left, right), as brain_bbox
    shape: tuple[int, int]

    def reasons(self) -> tuple[str, ...]:
        found = []
        if self.std < BLANK_STD or self.foreground_fraction < MIN_FOREGROUND_FRACTION:
            found.append("blank_image")
        if self.chroma > MAX_CHROMA:
            found.append("colour_image")
        if "blank_image" not in found and not self._head_found():
            found.append("no_head_contour")
        return tuple(found)

    def _head_found(self) -> bool:
        if self.head_box is None:
            return False
        top, bottom, left, right = self.head_box
        area = (bottom - top) * (right - left)
        return area >= MIN_HEAD_FRACTION * self.shape[0] * self.shape[1]


def measure(display: np.ndarray, head_box: tuple[int, int, int, int] | None = None) -> ImageSignals:
    """Signals of a uint8 grey or RGB display image. ``head_box`` is reused when already known."""
    arr = np.asarray(display)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        rgb = arr[:, :, :3].astype(np.float32)
        grey = rgb.mean(axis=2)
        chroma = float(np.abs(rgb - grey[:, :, None]).mean())
    else:
        grey = (arr[:, :, 0] if arr.ndim == 3 else arr).astype(np.float32)
        chroma = 0.0
    if head_box is None:
        head_box = brain_bbox(arr)
    return ImageSignals(
        std=float(grey.std()),
        foreground_fraction=float((grey > FOREGROUND_LEVEL).mean()),
        chroma=chroma,
        head_box=head_box,
        shape=(int(grey.shape[0]), int(grey.shape[1])),
    )


def embedding_distance(embedding: np.ndarray, reference: Mapping[str, Any]) -> float | None:
    """Distance of an embedding from the training data's, by the reference's ``metric``.

    ``reference`` is the card's ``ood_reference``, written by export/: ``mean`` [K] and
    ``metric`` "cosine_distance" (1 - cos(embedding, mean); the default model's) or
    "standardised_euclidean" (root-mean-square of (embedding - mean) / ``std``). None when the
    reference is absent, of another size, or uses a metric this version does not know.
    """
    if not reference or "mean" not in reference:
        return None
    mean = np.asarray(reference["mean"], dtype=np.float64).ravel()
    vector = np.asarray(embedding, dtype=np.float64).ravel()
    if mean.shape != vector.shape:
        return None
    metric = reference.get("metric", "standardised_euclidean")
    if metric == "cosine_distance":
        norms = float(np.linalg.norm(vector) * np.linalg.norm(mean))
        return 1.0 if norms == 0.0 else float(1.0 - np.dot(vector, mean) / norms)
    if metric == "standardised_euclidean":
        spread = reference.get("std", reference.get("scale"))
        std = np.ones_like(mean) if spread is None else np.asarray(spread, dtype=np.float64).ravel()
        if std.shape != mean.shape:
            return None
        z = (vector - mean) / np.maximum(std, 1e-6)
        return float(np.sqrt(np.mean(z * z)))
    return None


def embedding_threshold(reference: Mapping[str, Any]) -> float | None:
    value = reference.get("threshold") if reference else None
    return float(value) if value is not None else None


def assess(
    signals: ImageSignals | None,
    embedding: np.ndarray | None,
    reference: Mapping[str, Any] | None,
) -> tuple[tuple[str, ...], float | None]:
    """(reasons the input looks out of distribution, embedding distance or None)."""
    reasons = list(signals.reasons()) if signals is not None else []
    distance = None
    if embedding is not None and reference:
        distance = embedding_distance(embedding, reference)
        threshold = embedding_threshold(reference)
        if distance is not None and threshold is not None and distance > threshold:
            reasons.append("embedding_outlier")
    return tuple(reasons), distance
