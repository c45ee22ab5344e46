"""MNI template slices of any plane written as DICOM with the matching ImageOrientationPatient."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests import mri_data

ORIENTATION = {"axial": [1, 0, 0, 0, -1, 0], "coronal": [1, 0, 0, 0, 0, -1], "sagittal": [0, 1, 0, 0, 0, -1]}
SLICER = {"axial": mri_data.axial_slice, "coronal": mri_data.coronal_slice, "sagittal": mri_data.sagittal_slice}


def write_plane_series(folder: Path, plane: str, indices, *, window: tuple[float, float] | None = (128.0, 256.0)) -> list[Path]:
    """One file per index (files in index order); pixels and orientation are those of ``plane``."""
    import pydicom

    indices = list(indices)
    placeholders = list(range(50, 50 + len(indices)))  # axial slices, replaced below
    paths = mri_data.write_dicom_series(folder, placeholders, shuffle_files=False, window=window)
    for path, index in zip(paths, indices):
        ds = pydicom.dcmread(path)
        stored = np.round(SLICER[plane](index) * 16).astype(np.uint16)
        ds.Rows, ds.Columns = stored.shape
        ds.PixelData = stored.tobytes()
        ds.ImageOrientationPatient = ORIENTATION[plane]
        ds.save_as(path)
    return paths
