"""Healthy-brain MRI slices for fine-tuning the ``notumor`` class and for the healthy-brain test.

Sources (all ship inside installed wheels; nothing is downloaded):

* the MNI ICBM152 2009a T1 template (nilearn, ``datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_
  converted.nii.gz``; an average of 152 healthy adults; its licence allows use with attribution,
  Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, McGill University);
* nibabel's ``tests/data/example4d.nii.gz``: a real subject's EPI (T2*-weighted) brain volume,
  low resolution (MIT licence, nibabel's test data) — used only as a held-out test.

Contrasts derived from the T1 template: ``t1`` (as is), ``t2_like`` (tissue intensities inverted
inside the head, dark background: CSF bright, white matter dark) and ``flair_like`` (T2-like with
the CSF suppressed, i.e. dark). Every slice is shown as the Kaggle images show a head: with a crude
skull and scalp (``with_skull``, which export.reference_images shares) and a dark margin.

Split (``TRAIN_SLICES`` / ``HELD_OUT_SLICES``): training uses axial z = 36, 40, ..., 144 in ``t1``
and ``t2_like``, each skull-stripped and with skull; the healthy-brain test uses z = 38, 42, ..., 142
(2 mm from the nearest training slice, so not independent of it) in all three contrasts
(``flair_like`` is never trained on), one presentation each, and EPI slices z = 4, 6, ..., 20 (an
unseen subject and sequence).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MNI_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
EPI_FILE = "nibabel/tests/data/example4d.nii.gz"
TRAIN_SLICES = tuple(range(36, 145, 4))
HELD_OUT_SLICES = tuple(range(38, 143, 4))
TRAIN_CONTRASTS = ("t1", "t2_like")
HELD_OUT_CONTRASTS = ("t1", "t2_like", "flair_like")
EPI_SLICES = tuple(range(4, 21, 2))


@lru_cache(maxsize=1)
def mni_volume() -> np.ndarray:
    import nibabel
    import nilearn

    return np.asarray(nibabel.load(Path(nilearn.__file__).parent / MNI_FILE).get_fdata(), np.float32)


@lru_cache(maxsize=1)
def epi_volume() -> np.ndarray:
    import nibabel

    path = Path(nibabel.__file__).parent / EPI_FILE.split("/", 1)[1]
    return np.asarray(nibabel.load(path).dataobj, np.float32)[..., 0]


def to_uint8(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(np.percentile(image, 99.9))
    scaled = (image - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(image)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def contrast(t1: np.ndarray, kind: str) -> np.ndarray:
    """A uint8 T1 slice as ``kind`` ("t1", "t2_like", "flair_like") would show it."""
    if kind == "t1":
        return t1
    head = t1 > 12
    value = t1.astype(np.float32)
    inverted = np.where(head, 255.0 - value, 0.0)
    if kind == "t2_like":
        return np.clip(inverted, 0, 255).astype(np.uint8)
    if kind == "flair_like":  # CSF (dark on T1, bright on T2) suppressed back to dark
        csf = head & (value < 70)
        flair = np.where(csf, value * 0.8, inverted * 0.9)
        return np.clip(flair, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown contrast {kind!r}")


def with_skull(
    display: np.ndarray,
    *,
    margin: int = 30,
    head_above: int = 12,
    ring_gap: int = 14,
    thickness: int = 6,
    bone: float = 25.0,
    fat: float = 230.0,
) -> np.ndarray:
    """The slice inside a crude skull (dark bone ring) and scalp (bright ring), on a dark margin.

    The head is the largest region brighter than ``head_above``; the bone ring lies ``ring_gap``
    pixels outside the ellipse fitted to it, the scalp ring beyond the bone. ``bone`` and ``fat``
    are the rings' intensities."""
    padded = np.pad(display, margin)
    mask = (padded > head_above).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours or len(max(contours, key=cv2.contourArea)) < 5:
        return padded
    (cx, cy), (w, h), angle = cv2.fitEllipse(max(contours, key=cv2.contourArea))
    out = padded.astype(np.float32)
    bone_ring, scalp_ring = np.zeros_like(padded), np.zeros_like(padded)
    cv2.ellipse(bone_ring, ((cx, cy), (w + ring_gap, h + ring_gap), angle), 1, thickness)
    scalp_axes = (w + ring_gap + 2.5 * thickness, h + ring_gap + 2.5 * thickness)
    cv2.ellipse(scalp_ring, ((cx, cy), scalp_axes, angle), 1, thickness - 1)
    out[bone_ring > 0], out[scalp_ring > 0] = bone, fat
    return np.clip(cv2.GaussianBlur(out, (0, 0), 1.0), 0, 255).astype(np.uint8)


def mni_axial(z: int) -> np.ndarray:
    return to_uint8(np.ascontiguousarray(np.rot90(mni_volume()[:, :, z])))


def presented(display: np.ndarray, kind: str) -> list[np.ndarray]:
    """The ways a slice is presented: skull-stripped on a margin, and with skull and scalp (bright
    fat on T1, grey on T2/FLAIR)."""
    fat = 230 if kind == "t1" else 150
    return [np.pad(display, 24), with_skull(display, fat=fat)]


def train_slices() -> Iterator[tuple[str, np.ndarray]]:
    for z in TRAIN_SLICES:
        for kind in TRAIN_CONTRASTS:
            for i, image in enumerate(presented(contrast(mni_axial(z), kind), kind)):
                yield f"MNI z={z} {kind} #{i}", image


def held_out_slices() -> Iterator[tuple[str, np.ndarray]]:
    for n, z in enumerate(HELD_OUT_SLICES):
        for k, kind in enumerate(HELD_OUT_CONTRASTS):
            way = (n + k) % 2  # one presentation each, alternating: skull-stripped or with skull
            yield f"MNI z={z} {kind} #{way}", presented(contrast(mni_axial(z), kind), kind)[way]
    volume = epi_volume()
    for z in EPI_SLICES:
        epi = to_uint8(np.ascontiguousarray(np.rot90(volume[:, :, z])))
        epi = cv2.resize(epi, (epi.shape[1] * 4, epi.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
        yield f"EPI z={z}", np.pad(epi, 24)
