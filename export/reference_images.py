"""Real brain MRI for parity checks, calibration and OOD statistics: the MNI ICBM152 T1 template.

The template ships inside the nilearn wheel (no download). Slices become 8-bit display images
(min-max scaled, as a PNG export would) and then model inputs through the app's own
preprocessing (app.core.model.preprocess), so export checks exactly what the app will feed the model.

The template is one sharp, skull-stripped T1 brain; clinical slices differ (skull and scalp,
T2/FLAIR contrast, lower resolution, noise, tilt, field of view). ``acquisition_variants`` imitates
those differences so that the out-of-distribution reference describes "an axial brain MR slice",
not "this template".
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from app.core.model.preprocess import to_model_input
from training import healthy

MNI_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
PARITY_SLICES = (45, 60, 75, 90, 105, 120)  # axial z indices through the brain (of 0..188)
OOD_SLICES = tuple(range(40, 141, 8))
CALIBRATION_SLICES = tuple(range(30, 151, 3))


class ReferenceDataError(RuntimeError):
    """The MNI template is not available (nilearn/nibabel missing)."""


@lru_cache(maxsize=1)
def mni_volume() -> np.ndarray:
    """The MNI T1 template, float32 (x, y, z) = (197, 233, 189), values 0..255."""
    try:
        import nibabel
        import nilearn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ReferenceDataError(
            "export needs nilearn and nibabel for its MRI reference slices: pip install nilearn nibabel"
        ) from exc
    path = Path(nilearn.__file__).parent / MNI_FILE
    return np.asarray(nibabel.load(path).get_fdata(), dtype=np.float32)


def to_display(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    scaled = (image - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(image)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def axial_display(z: int) -> np.ndarray:
    """Axial slice z as an 8-bit display image, anterior at the top."""
    return to_display(np.ascontiguousarray(np.rot90(mni_volume()[:, :, z])))


def model_inputs(
    displays: Iterable[np.ndarray],
    height: int,
    width: int,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """Display images -> float32 [N, H, W, 3] through the app's preprocessing."""
    return np.stack([to_model_input(d, height, width, value_range) for d in displays])


def axial_batch(
    z_indices: Iterable[int],
    height: int,
    width: int,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    return model_inputs((axial_display(z) for z in z_indices), height, width, value_range)


def with_skull(display: np.ndarray, thickness: int = 6) -> np.ndarray:
    """A crude skull and scalp around the brain: dark bone ring, bright fat ring (as on T1).

    Wider and lighter than the fine-tune data's skull (training.healthy): the OOD reference in
    exported cards is built with these values."""
    return healthy.with_skull(display, head_above=15, ring_gap=22, thickness=thickness, bone=40.0, fat=230.0)


def acquisition_variants(display: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The slice as-is and as other acquisitions might show it (see the module docstring)."""
    h, w = display.shape
    inverted = np.where(display > 8, 255 - display, 0).astype(np.uint8)  # T2-like, dark background
    as_float = display.astype(np.float32) / 255.0
    return [
        display,
        255 - display,
        inverted,
        (255 * as_float**0.6).astype(np.uint8),
        (255 * as_float**1.6).astype(np.uint8),
        cv2.GaussianBlur(display, (0, 0), 2.0),
        cv2.resize(cv2.resize(display, (64, 64), interpolation=cv2.INTER_AREA), (w, h)),
        cv2.warpAffine(display, cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-15, 15), 1.0), (w, h)),
        np.pad(display, int(0.25 * max(h, w))),
        np.clip(display + rng.normal(0, 10, display.shape), 0, 255).astype(np.uint8),
        with_skull(display),
        with_skull(inverted, thickness=8),
    ]


def ood_reference_displays(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [v for z in OOD_SLICES for v in acquisition_variants(axial_display(z), rng)]
