"""A DICOM series with one consistent geometry → ``Volume`` (the same object a NIfTI file gives).

Positions and orientation come from each file's header (ImagePositionPatient,
ImageOrientationPatient, PixelSpacing; PS3.3 C.7.6.2.1.1): voxel (column c, row r, slice k) lies at
``S_k + X * dc * c + Y * dr * r`` in LPS millimetres, which is turned into a voxel → RAS affine.
A stack is refused, with the reason, when its slices do not form a regular grid: mixed orientations
or matrix sizes, a missing slice (a gap), uneven spacing, or slice positions that drift sideways
(a gantry tilt or a sheared stack) — reslicing such a stack would put voxels in the wrong place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.core.errors import ScanLoadError, UnsupportedScanError
from app.core.scans.scan import Scan
from app.core.scans.series import finite_floats
from app.core.scans.volume import Volume, from_array

MIN_VOLUME_SLICES = 3
SPACING_TOLERANCE = 0.1  # relative: slice steps may differ by 10 % (rounding of positions)
MAX_TILT_DEGREES = 1.0  # between the slice normal and the step from one slice to the next
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def stack_geometry(orientations: Sequence[Sequence[float] | None], positions: Sequence[Sequence[float] | None],
                   spacing: tuple[float, float] | None, path: Path | None = None) -> np.ndarray:
    """The voxel → RAS affine of slices given in stack order, or ``UnsupportedScanError`` saying why
    they are not one regular grid."""
    if len(positions) < MIN_VOLUME_SLICES:
        raise UnsupportedScanError(f"A volume needs at least {MIN_VOLUME_SLICES} slices; this series has "
                                   f"{len(positions)}.", path)
    if any(o is None for o in orientations) or any(p is None for p in positions):
        raise UnsupportedScanError("Some slices of the series have no position or orientation in their "
                                   "headers, so the series cannot be rebuilt as a volume.", path)
    first = np.asarray(orientations[0], float)
    if any(np.abs(np.asarray(o, float) - first).max() > 1e-3 for o in orientations):
        raise UnsupportedScanError("The series mixes slice orientations (e.g. a localiser), so it is not "
                                   "one volume.", path)
    if spacing is None or not all(s > 0 for s in spacing):
        raise UnsupportedScanError("The series has no pixel spacing, so its voxel size is unknown.", path)
    row_dir, col_dir = first[:3], first[3:6]
    normal = np.cross(row_dir, col_dir)
    points = np.asarray(positions, float)
    steps = np.diff(points, axis=0)
    along = steps @ normal
    if np.any(np.abs(along) < 1e-3) or not (np.all(along > 0) or np.all(along < 0)):
        raise UnsupportedScanError("Two slices of the series share a position (a repeated or mixed "
                                   "acquisition), so it is not one volume.", path)
    spacing_k = float(np.median(np.abs(along)))
    low, high = float(np.abs(along).min()), float(np.abs(along).max())
    if high > spacing_k * (1.0 + SPACING_TOLERANCE) or low < spacing_k * (1.0 - SPACING_TOLERANCE):
        gap = "a slice is missing" if high > 1.5 * spacing_k else "the slices are unevenly spaced"
        raise UnsupportedScanError(f"The series' slice spacing varies from {low:.2f} to {high:.2f} mm ({gap}); "
                                   "it cannot be resliced as a volume.", path)
    cosines = np.abs(along) / np.linalg.norm(steps, axis=1)
    tilt = float(np.degrees(np.arccos(np.clip(cosines.min(), -1.0, 1.0))))
    if tilt > MAX_TILT_DEGREES:
        raise UnsupportedScanError(f"The slices are tilted {tilt:.1f}° against their own plane (gantry tilt "
                                   "or a sheared stack); reslicing it would distort the anatomy.", path)
    step = steps.mean(axis=0)
    dr, dc = float(spacing[0]), float(spacing[1])
    lps = np.eye(4)
    lps[:3, 0] = row_dir * dc  # along a row: columns advance
    lps[:3, 1] = col_dir * dr
    lps[:3, 2] = step
    lps[:3, 3] = points[0]
    return LPS_TO_RAS @ lps


def load_dicom_volume(paths: Sequence[Path]) -> Volume:
    """The files of one series, in slice order (``series.sort_slices``), as a Volume."""
    from app.core.scans import dicom

    paths = [Path(p) for p in paths]
    orientations: list[tuple[float, ...] | None] = []
    positions: list[tuple[float, ...] | None] = []
    spacing, header_window = None, False
    for path in paths:
        ds = dicom.read_dataset(path, stop_before_pixels=True)
        header_window = header_window or "WindowCenter" in ds
        orientations.append(finite_floats(dicom._orientation(ds), 6))
        positions.append(finite_floats(_position(ds), 3))
        spacing = spacing or dicom._pixel_spacing(ds)
    affine = stack_geometry(orientations, positions, spacing, paths[0])  # at least MIN_VOLUME_SLICES
    first_scan = _single_slice(paths[0])
    slices = [first_scan.pixels]
    for path in paths[1:]:
        pixels = _single_slice(path).pixels
        if pixels.shape != slices[0].shape:
            raise UnsupportedScanError("The slices of the series have different sizes.", path)
        slices.append(pixels)
    array = np.stack(slices, axis=-1).transpose(1, 0, 2)  # (rows, cols, k) → (cols, rows, k): voxel (c, r, k)
    if not np.all(np.isfinite(array)):
        raise ScanLoadError("The series holds NaN or infinite pixel values.", paths[0])
    volume = from_array(paths[0], array, affine, fmt="dicom", metadata=first_scan.metadata,
                        source_paths=tuple(paths))
    if header_window and first_scan.window is not None:
        volume.window = first_scan.window  # the series' own window, as its slices show it
    return volume


def _single_slice(path: Path) -> Scan:
    """The one grey frame of a slice file, else ``UnsupportedScanError``."""
    from app.core.scans import dicom

    scans = dicom.load_dicom(path)
    if len(scans) != 1 or scans[0].pixels.ndim != 2:
        raise UnsupportedScanError("A slice of the series is multi-frame or in colour; only grey "
                                   "single-frame slices are rebuilt as a volume.", path)
    return scans[0]


def _position(ds):
    value = ds.get("ImagePositionPatient")
    if value is None:
        from app.core.scans import windowing

        item = windowing.functional_group_item(ds, "PlanePositionSequence")
        value = item.get("ImagePositionPatient") if item is not None else None
    return value

