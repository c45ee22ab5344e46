"""A 3-D scan (a NIfTI/MGH file or a DICOM series with one geometry) and its slices in any plane.

The voxels are held in nibabel's closest canonical frame (RAS+: the first axis runs towards the
patient's right, the second anterior, the third superior), so "axial", "coronal" and "sagittal"
mean what a radiologist expects whatever order the file stored them in. ``plane_view`` says how a
plane's slice is laid out on screen: anterior (axial) or superior (coronal, sagittal) at the top;
the patient's right on the viewer's left in the radiological convention (the default), on the
right in the neurological one; sagittal slices with anterior on the left. In-plane pixels are
resampled to square pixels, so a 5 mm-slice acquisition is not squashed in its coronal view.

A heatmap built in the canonical frame goes back to the file's own voxel order with
``to_source_axes`` (nibabel's ``ornt_transform``), so it can be saved in the input's geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.errors import ScanLoadError
from app.core.scans.scan import Scan, ScanMetadata
from app.core.scans.windowing import apply_window

PLANES = ("axial", "coronal", "sagittal")
RADIOLOGICAL, NEUROLOGICAL = "radiological", "neurological"
EMPTY_LEVEL = 25  # display grey level above which a pixel counts as tissue
EMPTY_FRACTION = 0.02  # a slice with less tissue than this share of its pixels is outside the head
WINDOW_PERCENTILES = (0.5, 99.5)
MAX_VOXEL_RATIO = 64.0  # thickest / finest voxel side (10 mm slices of 0.4 mm pixels are 25)
MAX_SLICE_SIDE = 4096  # pixels of a slice once resampled to square pixels


@dataclass(frozen=True)
class PlaneView:
    """How one plane's slices are cut and laid out: canonical axis numbers, flips."""

    slice_axis: int
    row_axis: int
    col_axis: int
    flip_rows: bool
    flip_cols: bool


def plane_view(plane: str, convention: str = RADIOLOGICAL) -> PlaneView:
    """Layout of ``plane`` in the canonical RAS+ frame (see the module docstring)."""
    mirror = convention != NEUROLOGICAL  # radiological: patient's right (high x) on the left
    if plane == "axial":
        return PlaneView(2, 1, 0, True, mirror)
    if plane == "coronal":
        return PlaneView(1, 2, 0, True, mirror)
    if plane == "sagittal":
        return PlaneView(0, 2, 1, True, True)
    raise ValueError(f"unknown plane {plane!r}; expected one of {', '.join(PLANES)}")


@dataclass(eq=False)
class Volume:
    """Voxels (float32, canonical RAS+ axes, physical/scanner units) and where they came from.

    ``affine`` maps canonical voxel indices to RAS millimetres; ``source_affine`` and
    ``source_shape`` are the file's own; ``window`` (centre, width) makes the display images.
    ``notes`` say what a reader should know (a 4-D file's first volume, an oblique acquisition).
    """

    source: Path
    data: np.ndarray = field(repr=False)
    affine: np.ndarray = field(repr=False)
    source_affine: np.ndarray = field(repr=False)
    source_shape: tuple[int, int, int]
    to_canonical: np.ndarray = field(repr=False)  # nibabel orientation: file axes → canonical axes
    window: tuple[float, float]
    metadata: ScanMetadata = field(default_factory=ScanMetadata, repr=False)
    file_sha256: str = ""
    notes: tuple[str, ...] = ()
    format: str = "nifti"  # "nifti", "mgh" or "dicom"
    source_paths: tuple[Path, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Millimetres along the canonical axes (x: left-right, y: posterior-anterior, z: inferior-superior)."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    def slice_count(self, plane: str) -> int:
        return self.shape[plane_view(plane).slice_axis]

    def slice_pixels(self, plane: str, index: int, convention: str = RADIOLOGICAL) -> np.ndarray:
        """The float32 slice ``index`` of ``plane`` laid out for the screen, with square pixels."""
        view = plane_view(plane, convention)
        return _square_pixels(_cut(self.data, view, index), self.voxel_size, view)

    def display_slice(self, plane: str, index: int, convention: str = RADIOLOGICAL,
                      window: tuple[float, float] | None = None) -> np.ndarray:
        centre, width = window or self.window
        return apply_window(self.slice_pixels(plane, index, convention), centre, width)

    def slice_scan(self, plane: str, index: int, convention: str = RADIOLOGICAL) -> Scan:
        """One slice as a ``Scan`` the classifier and the viewer take like any other."""
        pixels = self.slice_pixels(plane, index, convention)
        count = self.slice_count(plane)
        view = plane_view(plane, convention)
        size = self.voxel_size
        return Scan(
            source=self.source,
            pixels=pixels,
            display=apply_window(pixels, *self.window),
            metadata=_with_plane(self.metadata, plane, min(size[view.row_axis], size[view.col_axis])),
            slice_index=index,
            series_length=count,
            window=self.window,
            file_sha256=self.file_sha256,
            plane=plane,
            volume=self,
        )

    def to_source_axes(self, canonical: np.ndarray) -> np.ndarray:
        """An array in the canonical voxel grid (e.g. a heatmap) in the file's own voxel order."""
        from nibabel.orientations import apply_orientation, ornt_transform

        identity = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
        back = ornt_transform(identity, self.to_canonical)
        return apply_orientation(np.asarray(canonical), back)


def from_array(source: Path, array: np.ndarray, affine: np.ndarray, *, fmt: str,
               metadata: ScanMetadata | None = None, notes: tuple[str, ...] = (),
               source_paths: tuple[Path, ...] = ()) -> Volume:
    """A Volume from a file-ordered float32 array and its voxel → RAS affine (reoriented here)."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    check_voxel_sizes(np.linalg.norm(np.asarray(affine, float)[:3, :3], axis=0), array.shape[:3], source)
    ornt = io_orientation(affine)
    # Fortran order, as NIfTI stores voxels: an axial slice (the plane classified most) is contiguous
    data = np.asfortranarray(apply_orientation(array, ornt), dtype=np.float32)
    canonical_affine = affine @ inv_ornt_aff(ornt, array.shape)
    obliquity = _obliquity_degrees(affine)
    if obliquity > 1.0:
        notes = (*notes, f"The acquisition is oblique ({obliquity:.0f}° from the scanner axes); "
                         "it is shown in the nearest axial, coronal and sagittal planes, not resampled.")
    return Volume(
        source=Path(source), data=data, affine=canonical_affine, source_affine=np.asarray(affine, float),
        source_shape=(int(array.shape[0]), int(array.shape[1]), int(array.shape[2])), to_canonical=ornt,
        window=volume_window(data), metadata=metadata or ScanMetadata(), notes=notes, format=fmt,
        source_paths=source_paths or (Path(source),),
    )


def check_voxel_sizes(sizes, shape, source: Path | None = None) -> None:
    """Refuses voxel sizes no scanner makes (zero, infinite, or sides 64 times apart), which would
    also blow a slice up to millions of pixels when it is resampled to square pixels."""
    sizes = [float(v) for v in sizes]
    text = " x ".join(f"{v:.3g}" for v in sizes)
    if not all(np.isfinite(sizes)) or min(sizes) <= 1e-6:
        raise ScanLoadError(f"The volume's voxel size ({text} mm) is invalid, so its geometry is unknown.", source)
    if max(sizes) / min(sizes) > MAX_VOXEL_RATIO:
        raise ScanLoadError(f"The volume's voxel sides ({text} mm) differ more than {MAX_VOXEL_RATIO:g}-fold; "
                            "its header is probably damaged.", source)
    extent = max(n * v for n, v in zip(shape, sizes)) / min(sizes)
    if extent > MAX_SLICE_SIDE:
        raise ScanLoadError(f"The volume's slices would be {extent:,.0f} pixels wide once shown with square "
                            "pixels; it is too large to show.", source)


def volume_window(data: np.ndarray) -> tuple[float, float]:
    """(centre, width) spanning the 0.5–99.5th percentile of the tissue (voxels above the minimum):
    one window for every slice, so slices compare, and independent of the voxel order."""
    sample = data[:: max(1, data.shape[0] // 64), :: max(1, data.shape[1] // 64)]
    tissue = sample[sample > sample.min()]
    values = tissue if tissue.size else sample
    low, high = (float(v) for v in np.percentile(values, WINDOW_PERCENTILES))
    if not high > low:
        low, high = float(values.min()), float(values.max()) + 1.0
    return (low + high) / 2.0, high - low


def is_empty_slice(display: np.ndarray) -> bool:
    """True for a slice outside the head: almost no pixel is brighter than the background."""
    return float((np.asarray(display) > EMPTY_LEVEL).mean()) < EMPTY_FRACTION


def canonical_index(plane: str, index: int, row: int, col: int, shape: tuple[int, int, int],
                    voxel_size: tuple[float, float, float], convention: str = RADIOLOGICAL) -> tuple[int, int, int]:
    """The canonical voxel under pixel (row, col) of ``plane``'s slice ``index`` (square-pixel layout)."""
    view = plane_view(plane, convention)
    rows, cols = _square_shape(shape, voxel_size, view)
    r = min(shape[view.row_axis] - 1, max(0, int(row * shape[view.row_axis] / rows)))
    c = min(shape[view.col_axis] - 1, max(0, int(col * shape[view.col_axis] / cols)))
    voxel = [0, 0, 0]
    voxel[view.slice_axis] = int(index)
    voxel[view.row_axis] = shape[view.row_axis] - 1 - r if view.flip_rows else r
    voxel[view.col_axis] = shape[view.col_axis] - 1 - c if view.flip_cols else c
    return voxel[0], voxel[1], voxel[2]


def display_position(plane: str, voxel: tuple[int, int, int], shape: tuple[int, int, int],
                     voxel_size: tuple[float, float, float], convention: str = RADIOLOGICAL) -> tuple[float, float]:
    """(row, col) of a canonical voxel's centre in ``plane``'s square-pixel slice (for the crosshair)."""
    view = plane_view(plane, convention)
    rows, cols = _square_shape(shape, voxel_size, view)
    r = voxel[view.row_axis] if not view.flip_rows else shape[view.row_axis] - 1 - voxel[view.row_axis]
    c = voxel[view.col_axis] if not view.flip_cols else shape[view.col_axis] - 1 - voxel[view.col_axis]
    return (r + 0.5) * rows / shape[view.row_axis], (c + 0.5) * cols / shape[view.col_axis]


def cut_plane(array: np.ndarray, plane: str, index: int, voxel_size: tuple[float, float, float],
              convention: str = RADIOLOGICAL) -> np.ndarray:
    """Any canonical-grid array (e.g. a heatmap volume) cut and laid out as ``slice_pixels`` is."""
    view = plane_view(plane, convention)
    return _square_pixels(_cut(np.asarray(array, np.float32), view, index), voxel_size, view)


def _cut(data: np.ndarray, view: PlaneView, index: int) -> np.ndarray:
    if not 0 <= index < data.shape[view.slice_axis]:
        raise IndexError(f"slice {index} is outside 0..{data.shape[view.slice_axis] - 1}")
    where: list[slice | int] = [slice(None)] * 3
    where[view.slice_axis] = int(index)
    plane = data[tuple(where)]  # a view (np.take would copy the whole volume first)
    rest = [a for a in range(3) if a != view.slice_axis]
    if rest.index(view.row_axis) != 0:
        plane = plane.T
    if view.flip_rows:
        plane = plane[::-1]
    if view.flip_cols:
        plane = plane[:, ::-1]
    return np.ascontiguousarray(plane, dtype=np.float32)


def _square_shape(shape, voxel_size, view: PlaneView) -> tuple[int, int]:
    rows, cols = shape[view.row_axis], shape[view.col_axis]
    dr, dc = voxel_size[view.row_axis], voxel_size[view.col_axis]
    if not (dr > 0 and dc > 0) or abs(dr - dc) <= 1e-3 * max(dr, dc):
        return int(rows), int(cols)
    step = min(dr, dc)
    return max(1, int(round(rows * dr / step))), max(1, int(round(cols * dc / step)))


def _square_pixels(plane: np.ndarray, voxel_size, view: PlaneView) -> np.ndarray:
    shape = [0, 0, 0]
    shape[view.row_axis], shape[view.col_axis] = plane.shape
    rows, cols = _square_shape(shape, voxel_size, view)
    if (rows, cols) == plane.shape:
        return plane
    import cv2

    return cv2.resize(plane, (cols, rows), interpolation=cv2.INTER_LINEAR)


def _obliquity_degrees(affine: np.ndarray) -> float:
    """The largest angle between a voxel axis and the scanner axis it is closest to."""
    columns = np.asarray(affine, float)[:3, :3]
    norms = np.linalg.norm(columns, axis=0)
    if not np.all(norms > 0):
        return 0.0
    cosines = np.abs(columns / norms).max(axis=0)
    return float(np.degrees(np.arccos(np.clip(cosines.min(), -1.0, 1.0))))


def _with_plane(metadata: ScanMetadata, plane: str, spacing: float) -> ScanMetadata:
    from dataclasses import replace

    return replace(metadata, image_plane=plane, pixel_spacing=(spacing, spacing))


def plane_labels(plane: str, convention: str = RADIOLOGICAL) -> dict[str, str]:
    """The patient directions at the edges of a plane's slice on screen (top, bottom, left, right)."""
    view = plane_view(plane, convention)
    towards = {0: ("L", "R"), 1: ("P", "A"), 2: ("I", "S")}  # (low index, high index) per canonical axis

    def ends(axis: int, flipped: bool) -> tuple[str, str]:
        low, high = towards[axis]
        return (high, low) if flipped else (low, high)

    top, bottom = ends(view.row_axis, view.flip_rows)
    left, right = ends(view.col_axis, view.flip_cols)
    return {"top": top, "bottom": bottom, "left": left, "right": right}
