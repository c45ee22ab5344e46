"""Group DICOM files into series and put the slices of each in anatomical order.

Only headers are read (``stop_before_pixels``), so grouping a folder of hundreds of files is
quick. Slices are ordered by ImagePositionPatient projected on the slice normal (the cross
product of the ImageOrientationPatient row and column directions), falling back to
InstanceNumber, then to the file name: file names say nothing reliable about slice order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from pydicom.dataset import Dataset


@dataclass(frozen=True)
class SliceHeader:
    """What grouping and sorting need from one file's header."""

    path: Path
    series_uid: str | None
    orientation: tuple[float, ...] | None  # ImageOrientationPatient (6 direction cosines)
    position: tuple[float, ...] | None  # ImagePositionPatient (3 coordinates)
    instance_number: int | None
    shape: tuple[int, int] | None  # (Rows, Columns)
    series_description: str | None = None

    @classmethod
    def from_dataset(cls, path: Path, ds: Dataset) -> SliceHeader:
        return cls(
            path=Path(path),
            series_uid=_str(ds.get("SeriesInstanceUID")),
            orientation=finite_floats(ds.get("ImageOrientationPatient"), 6),
            position=finite_floats(ds.get("ImagePositionPatient"), 3),
            instance_number=_int(ds.get("InstanceNumber")),
            shape=(int(ds.Rows), int(ds.Columns)) if "Rows" in ds and "Columns" in ds else None,
            series_description=_str(ds.get("SeriesDescription")),
        )


@dataclass(frozen=True)
class SeriesGroup:
    """The files of one series (one stack: same UID, orientation and matrix), in slice order."""

    series_uid: str | None
    paths: tuple[Path, ...]
    description: str | None = None
    sorted_by: str = "name"  # "position", "instance" or "name"
    orientation: tuple[float, ...] | None = None  # ImageOrientationPatient of its first file


def group_series(headers: Iterable[SliceHeader]) -> list[SeriesGroup]:
    """Group by SeriesInstanceUID; a UID holding several stacks (e.g. a 3-plane localiser, or
    mixed matrix sizes) is split by orientation and matrix. Groups come in the order of their
    first file name."""
    groups: dict[tuple, list[SliceHeader]] = {}
    for header in headers:
        orientation = tuple(round(v, 2) for v in header.orientation) if header.orientation else None
        groups.setdefault((header.series_uid or f"no-uid:{header.path}", orientation, header.shape), []).append(header)
    result = []
    for members in groups.values():
        ordered, sorted_by = sort_slices(members)
        result.append(SeriesGroup(
            series_uid=members[0].series_uid,
            paths=tuple(h.path for h in ordered),
            description=members[0].series_description,
            sorted_by=sorted_by,
            orientation=members[0].orientation,
        ))
    return sorted(result, key=lambda g: min(str(p) for p in g.paths))


def sort_slices(headers: list[SliceHeader]) -> tuple[list[SliceHeader], str]:
    """(headers in slice order, how they were sorted)."""
    by_name = sorted(headers, key=lambda h: _natural_key(h.path.name))
    orientation = headers[0].orientation if headers else None
    positions = [h.position for h in by_name if h.position]
    stacked = len(headers) > 1 and all(h.orientation for h in headers) and len(positions) == len(by_name)
    if stacked and orientation:
        normal = slice_normal(orientation)
        distances = [float(np.dot(normal, position)) for position in positions]
        if len(set(np.round(distances, 4))) == len(distances):  # distinct positions: a real stack
            order = sorted(range(len(by_name)), key=lambda i: (distances[i], by_name[i].instance_number or 0))
            return [by_name[i] for i in order], "position"
    numbered = [(h.instance_number, h) for h in by_name if h.instance_number is not None]
    if len(numbered) == len(by_name):
        return [h for _, h in sorted(numbered, key=lambda pair: pair[0])], "instance"
    return by_name, "name"


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    """Unit normal of the image plane: row direction × column direction (PS3.3 C.7.6.2.1.1)."""
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _natural_key(name: str) -> list:
    """"IM2" before "IM10"."""
    import re

    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _str(value) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _int(value) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def finite_floats(value, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers from a DICOM multi-value (orientation, position), else None."""
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return values if len(values) == count and all(np.isfinite(values)) else None
