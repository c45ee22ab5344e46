"""Real volumes for the volume tests: the MNI template (cut down so the model runs on few slices),
its reoriented copies, a DICOM series written from it in sagittal acquisition order, and the
files nilearn and nibabel ship (an EPI time series, FreeSurfer's test.mgz).

Nothing here downloads; every file is written from data inside the installed wheels.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from tests.mri_data import MNI_FILE


def mni_path() -> Path:
    import nilearn

    return Path(nilearn.__file__).parent / MNI_FILE


def shipped_file(package: str, relative: str) -> Path:
    """A data file inside an installed package (nilearn's test.mgz, nibabel's example4d.nii.gz)."""
    import importlib

    return Path(importlib.import_module(package).__file__).parent / relative


def small_mni(path: Path, z_slices=range(40, 130, 15), step: int = 1, *, axcodes=("R", "A", "S"),
              oblique_degrees: float = 0.0) -> Path:
    """A NIfTI of the MNI template's axial slices ``z_slices`` (every ``step``-th voxel in-plane),
    stored in the voxel order ``axcodes`` and, optionally, with its affine rotated about the
    superior axis (same voxels, an oblique geometry)."""
    import nibabel
    from nibabel.orientations import axcodes2ornt, ornt_transform

    image = nibabel.load(mni_path())
    data = np.asarray(image.dataobj, dtype=np.uint8)[::step, ::step, list(z_slices)]
    affine = image.affine.copy()
    affine[:3, :2] *= step
    zs = list(z_slices)
    affine[:3, 3] = image.affine[:3, :3] @ np.array([0, 0, zs[0]]) + image.affine[:3, 3]
    affine[:3, 2] = image.affine[:3, 2] * (zs[1] - zs[0] if len(zs) > 1 else 1)
    if oblique_degrees:
        t = np.radians(oblique_degrees)
        rotation = np.array([[np.cos(t), -np.sin(t), 0, 0], [np.sin(t), np.cos(t), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        affine = rotation @ affine
    ras = nibabel.Nifti1Image(data, affine)
    transform = ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(axcodes))
    reoriented = ras.as_reoriented(transform)
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(reoriented, str(path))
    return path


def write_sagittal_series(folder: Path, data: np.ndarray, spacing=(1.0, 1.0, 1.0), *, shuffle: bool = True,
                          drop: int | None = None, tilt_mm: float = 0.0) -> list[Path]:
    """Writes a canonical (RAS+) uint8 volume as an MR DICOM series acquired sagittally: one file per
    x (left to right), rows running superior → inferior, columns anterior → posterior (LPS headers).

    ``drop`` leaves one slice out (a gap); ``tilt_mm`` shifts each slice's position sideways along
    the column direction by that much per slice (a sheared stack)."""
    from pydicom.uid import generate_uid

    from tests import dicom_files

    folder.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = data.shape
    sx, sy, sz = spacing
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    names = np.random.default_rng(1).permutation(nx) if shuffle else np.arange(nx)
    paths = []
    for x in range(nx):
        if drop is not None and x == drop:
            continue
        image = data[x, ::-1, ::-1].T  # rows: z from superior down, columns: y from anterior back
        stored = (image.astype(np.uint16) * 16)
        ds = dicom_files.new_dataset(folder / f"SAG{int(names[x]):04d}.dcm")
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.PatientName, ds.PatientID = "MR", "Doe^Jane", "BL-0002"
        ds.StudyDate = datetime.date(2026, 1, 15).strftime("%Y%m%d")
        ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = "T1 SAG 3D", 4, x + 1
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # rows advance posterior, columns inferior
        # LPS of voxel (x, ny-1, nz-1): R = x*sx - 90 → L = -R; A = (ny-1)*sy - 120 → P = -A; S
        ds.ImagePositionPatient = [-(x * sx - 90.0), -((ny - 1) * sy - 120.0) , (nz - 1) * sz - 70.0 + tilt_mm * x]
        ds.SliceThickness, ds.PixelSpacing = sx, [sz, sy]  # row spacing (between rows: z), column spacing (y)
        dicom_files.set_pixels(ds, stored, bits_stored=12)
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        paths.append(dicom_files.write(ds))
    return paths
