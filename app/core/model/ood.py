"""The first out-of-distribution guard: does this input look like an axial brain MRI slice?

Only signals that can be measured and tested are used:

- ``blank_image``: almost no structure (near-constant, or almost nothing above the background);
- ``colour_image``: clearly coloured pixels (MRI is grey; a photo or a screenshot is not);
- ``no_head_contour``: the seeds' crop step finds no head-sized bright region;
- ``embedding_outlier``: the model's embedding is far from the training images', when the card
  carries ``ood_reference`` (for the default model: a class-conditional Mahalanobis distance to the
  real Kaggle training scans, app/core/model/class_distance.py, threshold set on calibration scans);
- ``not_head_shaped``: the head region fills its bounding box like a rectangle (a photograph, a
  texture or a gradient filling the frame), where a head is an oval (fills at most ~0.83 of it);
- ``invalid_model_output``: the model's embedding holds NaN or infinity (a damaged model file whose
  weights still parse, e.g. bit flips inside a weight tensor).

Any of them makes the result "not assessed": the class is not shown as a finding.

Measured but no longer reasons to refuse (the default model is trained on real scans of every plane,
with skull, tumours that break the left-right symmetry, T1/T1c/T2/FLAIR): the outline's mirror
symmetry (``outline_symmetry``; it refused 23 % of the real calibration scans) and the DICOM
header's image plane (``plane``). ``asymmetric_outline`` and ``not_axial_plane`` keep their words in
``REASON_TEXT`` for results written by earlier versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from app.core.model import class_distance
from app.core.scans.crop import brain_bbox, head_outline

INVALID_OUTPUT = "invalid_model_output"
# Plain words for each reason, shared by the CLI, the GUI and the reports.
REASON_TEXT = {
    "blank_image": "the image is (nearly) blank",
    "colour_image": "the image is in colour, not a greyscale MRI",
    "no_head_contour": "no head outline was found",
    "asymmetric_outline": "the head outline is not left-right symmetric (it may be a sagittal slice)",
    "not_head_shaped": "the image is not shaped like a head on a dark background",
    "not_axial_plane": "the DICOM header says the slice is coronal or sagittal, not axial",
    "embedding_outlier": "its image features are far from those of the reference brain MRI",
    INVALID_OUTPUT: "the model produced invalid numbers (the model file may be damaged)",
}


def describe_reason(reason: str) -> str:
    return REASON_TEXT.get(reason, reason.replace("_", " "))
NOT_AXIAL_PLANES = ("coronal", "sagittal")
BLANK_STD = 4.0  # grey levels (of 255): below this the image is flat
FOREGROUND_LEVEL = 30  # grey level separating tissue from the dark background
MIN_FOREGROUND_FRACTION = 0.055  # calibration half: no-brain slices <= 0.027, brain slices >= 0.086
MAX_CHROMA = 12.0  # mean |channel - grey| in grey levels; JPEG noise on grey images stays far below
MIN_HEAD_FRACTION = 0.04  # the head's box must cover at least this share of the image
# Mirror IoU of the head outline about its best axis. Calibrated by scripts/ood_eval.py (calib half):
# axial slices of a real head (EPI) 0.94-0.96, rotated template slices >= 0.98; sagittal <= 0.87.
MIN_OUTLINE_SYMMETRY = 0.90
MAX_HEAD_FILL = 0.94  # head region / its bounding box; Kaggle calibration scans: 99 % <= 0.90 (tight crops reach 0.99); photos, noise, text >= 0.95
MEASURE_PIXELS = 1_000_000  # larger images are measured on a regular subsample
SYMMETRY_SIZE = 128  # the outline is compared on an image scaled down to this many pixels (longest side)
SYMMETRY_ANGLES = tuple(range(-30, 31, 3))  # candidate mirror axes, degrees from vertical
MIN_OUTLINE_AREA = 16  # pixels (on the scaled-down image) a head outline must enclose


@dataclass(frozen=True)
class ImageSignals:
    """Cheap measurements of a display image, taken before it is resized for the model."""

    std: float
    foreground_fraction: float
    chroma: float
    head_box: tuple[int, int, int, int] | None  # (top, bottom, left, right), as brain_bbox
    shape: tuple[int, int]
    outline_symmetry: float | None = None  # best mirror IoU of the head outline (None: no outline)
    plane: str | None = None  # the DICOM header's image plane, when known
    head_fill: float | None = None  # share of the head region's bounding box it fills (None: no region)

    def reasons(self) -> tuple[str, ...]:
        found = []
        if self.std < BLANK_STD or self.foreground_fraction < MIN_FOREGROUND_FRACTION:
            found.append("blank_image")
        if self.chroma > MAX_CHROMA:
            found.append("colour_image")
        if "blank_image" not in found and not self._head_found():
            found.append("no_head_contour")
        else:
            if self.head_fill is not None and self.head_fill > MAX_HEAD_FILL:
                found.append("not_head_shaped")
        return tuple(found)

    def _head_found(self) -> bool:
        if self.head_box is None:
            return False
        top, bottom, left, right = self.head_box
        area = (bottom - top) * (right - left)
        return area >= MIN_HEAD_FRACTION * self.shape[0] * self.shape[1]


def measure(
    display: np.ndarray, head_box: tuple[int, int, int, int] | None = None, *, plane: str | None = None
) -> ImageSignals:
    """Signals of a uint8 grey or RGB display image. ``head_box`` is reused when already known;
    ``plane`` is the scan's image plane from its DICOM header (``ScanMetadata.image_plane``).
    Statistics of images over ``MEASURE_PIXELS`` are taken on every n-th pixel (a 90 MP image
    would otherwise need 1 GB and seconds)."""
    full = np.asarray(display)
    step = max(1, int(np.ceil(np.sqrt(full.shape[0] * full.shape[1] / MEASURE_PIXELS))))
    arr = full[::step, ::step]
    if arr.ndim == 3 and arr.shape[2] >= 3:
        rgb = arr[:, :, :3].astype(np.float32)
        grey = rgb.mean(axis=2)
        chroma = float(np.abs(rgb - grey[:, :, None]).mean())
    else:
        grey = (arr[:, :, 0] if arr.ndim == 3 else arr).astype(np.float32)
        chroma = 0.0
    if head_box is None:
        head_box = brain_bbox(full)
    symmetry, fill = outline_shape(grey)
    return ImageSignals(
        std=float(grey.std()),
        foreground_fraction=float((grey > FOREGROUND_LEVEL).mean()),
        chroma=chroma,
        head_box=head_box,
        shape=(int(full.shape[0]), int(full.shape[1])),
        outline_symmetry=symmetry,
        plane=plane,
        head_fill=fill,
    )


def head_mask(grey: np.ndarray) -> np.ndarray | None:
    """The crop step's head region (``head_outline``) of a grey image on the 0..255 scale, filled
    (uint8, 255 inside); None when there is none or it encloses less than ``MIN_OUTLINE_AREA``."""
    image = np.clip(grey, 0, 255).astype(np.uint8)
    outline = head_outline(image)
    if outline is None or cv2.contourArea(outline) < MIN_OUTLINE_AREA:
        return None
    filled = np.zeros_like(image)
    cv2.drawContours(filled, [outline], -1, 255, thickness=-1)
    return filled


def outline_symmetry(grey: np.ndarray) -> float | None:
    """How mirror-symmetric the head outline is: the best intersection-over-union of the head mask
    and its reflection about a line through its centroid, over axes within 30 degrees of vertical.

    1.0 for a perfectly symmetric outline (an axial or coronal slice of the symmetric template);
    real axial slices score about 0.95, sagittal slices below 0.9. None when there is no outline.
    """
    return outline_shape(grey)[0]


def outline_shape(grey: np.ndarray) -> tuple[float | None, float | None]:
    """(``outline_symmetry``, the share of its bounding box the head region fills) of a grey image,
    measured on a copy scaled down to ``SYMMETRY_SIZE``; (None, None) when there is no region."""
    rows, cols = grey.shape[:2]
    scale = min(1.0, SYMMETRY_SIZE / max(rows, cols, 1))
    small = grey if scale == 1.0 else cv2.resize(
        np.asarray(grey, np.float32), (max(1, round(cols * scale)), max(1, round(rows * scale))),
        interpolation=cv2.INTER_AREA)
    mask = head_mask(small)
    if mask is None:
        return None, None
    ys, xs = np.nonzero(mask)
    fill = float(len(ys) / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)))
    moments = cv2.moments(mask, binaryImage=True)
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    inside = mask > 0
    best = 0.0
    for degrees in SYMMETRY_ANGLES:
        ux, uy = np.sin(np.radians(degrees)), np.cos(np.radians(degrees))  # the axis's direction
        reflect = np.array([[2 * ux * ux - 1, 2 * ux * uy], [2 * ux * uy, 2 * uy * uy - 1]])
        shift = np.array([cx, cy]) - reflect @ np.array([cx, cy])
        matrix = np.hstack([reflect, shift[:, None]])
        mirrored = cv2.warpAffine(mask, matrix, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_NEAREST) > 0
        union = np.count_nonzero(inside | mirrored)
        best = max(best, np.count_nonzero(inside & mirrored) / union if union else 0.0)
    return float(best), fill


def embedding_distance(embedding: np.ndarray, reference: Mapping[str, Any]) -> float | None:
    """Distance of an embedding from the training data's, by the reference's ``metric``.

    ``reference`` is the card's ``ood_reference``, written by export/: ``mean`` [K] and
    ``metric`` "class_mahalanobis" (the default model's, see class_distance), "cosine_distance" (1 - cos(embedding, mean); the default model's) or
    "standardised_euclidean" (root-mean-square of (embedding - mean) / ``std``). None when the
    reference is absent, of another size, or uses a metric this version does not know.
    """
    if not reference:
        return None
    vector = np.asarray(embedding, dtype=np.float64).ravel()
    metric = reference.get("metric", "standardised_euclidean")
    if metric == class_distance.METRIC:
        distances = class_distance.class_mahalanobis(vector[None, :], reference)
        return None if distances is None else float(distances[0])
    if "mean" not in reference:
        return None
    mean = np.asarray(reference["mean"], dtype=np.float64).ravel()
    if mean.shape != vector.shape:
        return None
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
    if embedding is not None and not np.all(np.isfinite(np.asarray(embedding, dtype=np.float64))):
        reasons.append(INVALID_OUTPUT)
        return tuple(reasons), None
    if embedding is not None and reference:
        distance = embedding_distance(embedding, reference)
        threshold = embedding_threshold(reference)
        if distance is not None and threshold is not None and distance > threshold:
            reasons.append("embedding_outlier")
    return tuple(reasons), distance
