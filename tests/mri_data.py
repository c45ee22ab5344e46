"""Real brain MRI for tests: nilearn's MNI ICBM152 T1 template and pydicom's bundled MR files.

Nothing here downloads: the template ships inside the nilearn wheel, and pydicom's files are
asked for by exact name with download=False (its pattern search tries the network and stalls).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

MNI_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom does not bundle {name}")
    return Path(path)


@lru_cache(maxsize=1)
def mni_volume() -> np.ndarray:
    """The MNI T1 template as float32 (x, y, z) = (197, 233, 189), 1 mm, values 0..255."""
    import nibabel
    import nilearn

    path = Path(nilearn.__file__).parent / MNI_FILE
    return np.asarray(nibabel.load(path).get_fdata(), dtype=np.float32)


def axial_slice(z: int) -> np.ndarray:
    """An axial slice, anterior at the top, float32."""
    return np.ascontiguousarray(np.rot90(mni_volume()[:, :, z]))


def sagittal_slice(x: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(mni_volume()[x, :, :]))


def coronal_slice(y: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(mni_volume()[:, y, :]))


def to_uint8(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    scaled = (image - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(image)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def write_dicom_series(
    folder: Path,
    z_indices: list[int] | range,
    *,
    patient_name: str = "Doe^Jane",
    patient_id: str = "BL-0001",
    series_description: str = "T1 AX MNI",
    shuffle_files: bool = True,
    rescale: tuple[float, float] = (1.0, 0.0),
    window: tuple[float, float] | None = (128.0, 256.0),
    seed: int = 0,
    slice_of: Callable[[int], np.ndarray] = axial_slice,
    pixel_spacing: float = 1.0,
) -> list[Path]:
    """Writes MNI axial slices as an MR DICOM series (16-bit, explicit VR little endian).

    Files are named in a shuffled order so that loaders must sort by geometry, not by name.
    rescale is (slope, intercept): stored = (value - intercept) / slope. ``slice_of(z)`` gives the
    slice's 0..255 pixels (default: the template's axial slice; the benchmark passes upscaled ones).
    """
    from pydicom.uid import generate_uid

    from tests import dicom_files

    folder.mkdir(parents=True, exist_ok=True)
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    order = list(z_indices)
    names = np.random.default_rng(seed).permutation(len(order)) if shuffle_files else range(len(order))
    slope, intercept = rescale
    paths = []
    for instance, (z, name_index) in enumerate(zip(order, names), start=1):
        pixels = slice_of(z) * 16.0  # 0..4080: a 12-bit range like a scanner's
        stored = np.round((pixels - intercept) / slope).astype(np.uint16)
        ds = dicom_files.new_dataset(folder / f"IM{int(name_index):04d}.dcm")
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality = "MR"
        ds.PatientName, ds.PatientID = patient_name, patient_id
        ds.PatientBirthDate, ds.PatientSex = "19700101", "F"
        ds.StudyDate = ds.SeriesDate = datetime.date(2026, 1, 15).strftime("%Y%m%d")
        ds.StudyDescription, ds.SeriesDescription = "MRI BRAIN", series_description
        ds.InstitutionName = "BrainLens Test Hospital"
        ds.SeriesNumber, ds.InstanceNumber = 3, instance
        ds.ImageOrientationPatient = [1, 0, 0, 0, -1, 0]
        ds.ImagePositionPatient = [-98.0, 134.0, float(z - 72)]
        ds.SliceThickness, ds.PixelSpacing = 1.0, [pixel_spacing, pixel_spacing]
        dicom_files.set_pixels(ds, stored, bits_stored=12)
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window[0] * 16, window[1] * 16
        paths.append(dicom_files.write(ds))
    return paths
