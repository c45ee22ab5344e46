"""Real brain MRI for parity checks, calibration and OOD statistics: the MNI ICBM152 T1 template.

The template ships inside the nilearn wheel (no download). Slices become 8-bit display images
(min-max scaled, as a PNG export would) and then model inputs through the app's own
preprocessing (app.core.preprocess), so export checks exactly what the app will feed the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from app.core.preprocess import to_model_input

MNI_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
PARITY_SLICES = (45, 60, 75, 90, 105, 120)  # axial z indices through the brain (of 0..188)
OOD_SLICES = tuple(range(40, 141, 4))
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
