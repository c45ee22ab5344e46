"""Stored values → display values, as small pure functions in the order DICOM prescribes.

PS3.3 C.7.6.3.1 / C.11: stored pixel values first go through the Modality LUT (rescale slope and
intercept, or a Modality LUT Sequence) to give modality values (e.g. Hounsfield units); the VOI
LUT (window centre/width, or a VOI LUT Sequence) then maps those to the displayed range; finally a
MONOCHROME1 image is inverted so that larger values show darker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PERCENTILE_SAMPLE = 1_000_000  # pixels used to estimate a percentile window


def rescale(arr: np.ndarray, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    """The linear Modality LUT: ``arr * slope + intercept`` as float32 (PS3.3 C.11.1.1.2)."""
    out = np.asarray(arr, dtype=np.float32)
    if slope != 1.0:
        out = out * np.float32(slope)
    if intercept != 0.0:
        out = out + np.float32(intercept)
    return out


def apply_modality_lut(arr: np.ndarray, ds: Any | None = None, *, slope: float | None = None,
                       intercept: float | None = None, frame: int | None = None) -> np.ndarray:
    """Modality LUT (PS3.3 C.11.1) → float32; run it before ``apply_window``.

    With a pydicom dataset, a Modality LUT Sequence wins over Rescale Slope/Intercept, which are
    looked up at the top level and then in the (shared or per-frame) functional groups of
    enhanced multi-frame objects (``frame``'s own item first). Without a dataset,
    ``slope``/``intercept`` are applied.
    """
    if ds is not None and "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut as pydicom_modality_lut

        return np.asarray(pydicom_modality_lut(arr, ds), dtype=np.float32)
    if ds is not None and slope is None and intercept is None:
        slope, intercept = rescale_parameters(ds, frame)
    return rescale(arr, 1.0 if slope is None else slope, 0.0 if intercept is None else intercept)


def rescale_parameters(ds: Any, frame: int | None = None) -> tuple[float, float]:
    """(slope, intercept) from a dataset: top level, else Pixel Value Transformation functional group."""
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return _float(ds.get("RescaleSlope"), 1.0), _float(ds.get("RescaleIntercept"), 0.0)
    item = functional_group_item(ds, "PixelValueTransformationSequence", frame)
    if item is not None:
        return _float(item.get("RescaleSlope"), 1.0), _float(item.get("RescaleIntercept"), 0.0)
    return 1.0, 0.0


def window_from_dataset(ds: Any, frame: int | None = None) -> tuple[float, float] | None:
    """The first (centre, width) preset of a dataset, or None (top level, then functional groups)."""
    source = ds if "WindowCenter" in ds and "WindowWidth" in ds else functional_group_item(ds, "FrameVOILUTSequence", frame)
    if source is None or "WindowCenter" not in source or "WindowWidth" not in source:
        return None
    centre, width = _first(source.WindowCenter), _first(source.WindowWidth)
    try:
        centre, width = float(centre), float(width)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(centre) or not np.isfinite(width) or width <= 0:
        return None
    return centre, width


def apply_window(arr: np.ndarray, centre: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Window modality values to uint8 0..255 (PS3.3 C.11.2.1.2).

    ``function`` is the VOI LUT Function: "LINEAR" (the default, with DICOM's half-pixel
    convention), "LINEAR_EXACT" or "SIGMOID".
    """
    x = np.asarray(arr, dtype=np.float32)
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        y = 255.0 / (1.0 + np.exp(np.clip(-4.0 * (x - centre) / max(width, 1e-6), -80.0, 80.0)))
    elif function == "LINEAR_EXACT":
        y = _linear(x, 255.0 / max(width, 1e-6), centre - width / 2.0)
    elif width <= 1.0:  # a threshold: at or below centre - 0.5 is black, above is white
        return np.where(x > centre - 0.5, 255, 0).astype(np.uint8)
    else:
        # ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, as one multiply-add on float32
        y = _linear(x, 255.0 / (width - 1.0), centre - 0.5 - (width - 1.0) / 2.0)
    np.clip(y, 0.0, 255.0, out=y)
    np.rint(y, out=y)
    return y.astype(np.uint8)


def _linear(x: np.ndarray, scale: float, start: float) -> np.ndarray:
    """(x - start) * scale as a new float32 array, in two in-place passes."""
    y = np.subtract(x, np.float32(start), dtype=np.float32)
    y *= np.float32(scale)
    return y


def percentile_window(arr: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """A robust (centre, width) covering the ``low``..``high`` percentiles of the finite values.

    Used when a DICOM carries no window: the extremes (a few hot pixels, padding values) do not
    wash out the image the way a min–max window would.
    """
    values = np.asarray(arr, dtype=np.float32).ravel()
    if values.size > PERCENTILE_SAMPLE:  # a regular sample gives the same percentiles, much faster
        values = values[:: values.size // PERCENTILE_SAMPLE]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:  # flat or nearly flat image: fall back to the full range, then to a unit window
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            return float(lo), 1.0
    return float((lo + hi) / 2.0), float(hi - lo)


def full_range_window(arr: np.ndarray) -> tuple[float, float]:
    """(centre, width) mapping the image's min..max onto 0..255 (lossless for plain images)."""
    values = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, 1.0) if hi <= lo else ((lo + hi) / 2.0, hi - lo)


def invert(display: np.ndarray) -> np.ndarray:
    """MONOCHROME1: the minimum value is white (PS3.3 C.7.6.3.1.2)."""
    return (255 - np.asarray(display, dtype=np.uint8)).astype(np.uint8)


@dataclass(frozen=True)
class WindowPreset:
    """A named window. MR has no absolute units, so MR presets are percentile ranges of the image;
    CT presets are absolute (Hounsfield units)."""

    name: str
    low_percentile: float | None = None
    high_percentile: float | None = None
    centre: float | None = None
    width: float | None = None

    def window_for(self, arr: np.ndarray) -> tuple[float, float]:
        if self.centre is not None and self.width is not None:
            return self.centre, self.width
        return percentile_window(arr, self.low_percentile or 0.0, 100.0 if self.high_percentile is None else self.high_percentile)


MR_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Auto (0.5–99.5 %)", 0.5, 99.5),
    WindowPreset("Soft (1–99 %)", 1.0, 99.0),
    WindowPreset("High contrast (5–95 %)", 5.0, 95.0),
    WindowPreset("Full range", 0.0, 100.0),
)
CT_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Brain", centre=40.0, width=80.0),
    WindowPreset("Subdural", centre=75.0, width=215.0),
    WindowPreset("Stroke", centre=40.0, width=40.0),
    WindowPreset("Bone", centre=600.0, width=2800.0),
)


def _first(value: Any) -> Any:
    """Window Center/Width may be multi-valued: the first is the default preset."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _float(value: Any, default: float) -> float:
    try:
        return float(_first(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


def functional_group_item(ds: Any, sequence: str, frame: int | None = None) -> Any | None:
    """The first item of ``sequence`` in ``frame``'s per-frame functional group (frame 0 when
    None), else in the shared functional group (PS3.3 C.7.6.16)."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame or 0), ("SharedFunctionalGroupsSequence", 0)):
        if groups in ds and len(ds[groups].value) > index and sequence in ds[groups].value[index]:
            items = ds[groups].value[index][sequence].value
            if len(items):
                return items[0]
    return None
