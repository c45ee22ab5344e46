"""Stand-ins for report tests: real Scans (from MNI DICOM / PNG) and Prediction-shaped results.

The scans are the real ``app.core.scans.scan.Scan`` dataclass filled from the test DICOM series; the
predictions are a small dataclass with the fields of ``app.core.model.inference.Prediction`` that the
reports read, so these tests run without a model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.scans.scan import Scan, ScanMetadata
from tests import mri_data

CLASS_NAMES = ("glioma", "meningioma", "no_tumor", "pituitary")


@dataclass
class FakePrediction:
    class_names: tuple[str, ...]
    probabilities: np.ndarray
    cams: np.ndarray
    flags: tuple[str, ...] = ()
    assessed: bool = True
    no_tumour_class: str | None = "no_tumor"
    logits: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    embedding: np.ndarray = field(default_factory=lambda: np.zeros(8, np.float32))

    @property
    def predicted_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_class(self) -> str:
        return self.class_names[self.predicted_index]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.predicted_index])

    @property
    def p_tumour(self) -> float | None:
        if self.no_tumour_class is None:
            return None
        return 1.0 - float(self.probabilities[self.class_names.index(self.no_tumour_class)])


@dataclass
class FakeBatchItem:
    """A batch row with the fields the batch report reads: those of app.core.runs.batch.BatchItem
    (the CLI's batch) and ``metadata``, which the GUI's batch keeps instead of the scan."""

    path: Path
    label: str
    status: str
    error: str | None
    scan: object
    prediction: object
    image_sha256: str | None
    metadata: object = None


def fake_prediction(probabilities, *, flags=(), assessed=True, seed=0) -> FakePrediction:
    probs = np.asarray(probabilities, dtype=np.float32)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:14, 0:14]
    cams = []
    for _ in CLASS_NAMES:
        cy, cx = rng.uniform(3, 11, size=2)
        cams.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0).astype(np.float32))
    return FakePrediction(CLASS_NAMES, probs, np.stack(cams), tuple(flags), assessed)


def scan_from_dicom(path: Path, slice_index: int | None = None, series_length: int | None = None) -> Scan:
    import pydicom

    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    centre, width = float(ds.WindowCenter), float(ds.WindowWidth)
    lo = centre - width / 2
    display = np.clip((pixels - lo) / width * 255.0, 0, 255).astype(np.uint8)
    meta = ScanMetadata(
        patient_name=str(ds.PatientName), patient_id=ds.PatientID,
        patient_birth_date=ds.PatientBirthDate, patient_sex=ds.PatientSex, study_date=ds.StudyDate,
        study_description=ds.StudyDescription, series_description=ds.SeriesDescription,
        modality=ds.Modality, pixel_spacing=tuple(float(v) for v in ds.PixelSpacing),
        institution=ds.InstitutionName, study_instance_uid=ds.StudyInstanceUID,
        series_instance_uid=ds.SeriesInstanceUID, sop_instance_uid=ds.SOPInstanceUID,
    )
    return Scan(
        source=path, pixels=pixels, display=display, metadata=meta, slice_index=slice_index,
        series_uid=ds.SeriesInstanceUID, series_length=series_length, window=(centre, width),
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def scan_from_png(path: Path) -> Scan:
    from PIL import Image

    display = np.asarray(Image.open(path).convert("L"))
    return Scan(source=path, pixels=display.astype(np.float32), display=display,
                file_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def dicom_series(folder: Path, z_indices=range(50, 130, 10)) -> list[Scan]:
    """A real MNI series written as DICOM and read back in slice order."""
    import pydicom

    paths = mri_data.write_dicom_series(folder, z_indices)
    paths.sort(key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))
    return [scan_from_dicom(p, i, len(paths)) for i, p in enumerate(paths)]


def simple_overlay(display: np.ndarray, cam14: np.ndarray) -> np.ndarray:
    """A deterministic RGB overlay (red = CAM) for tests that do not exercise gradcam.py."""
    from PIL import Image

    grey = display if display.ndim == 2 else display[..., 0]
    cam = np.asarray(Image.fromarray((cam14 / max(cam14.max(), 1e-6) * 255).astype(np.uint8))
                     .resize(grey.shape[::-1], Image.Resampling.BILINEAR)).astype(np.float32) / 255
    rgb = np.repeat(grey[..., None].astype(np.float32), 3, axis=2)
    rgb[..., 0] = rgb[..., 0] * (1 - 0.5 * cam) + 255 * 0.5 * cam
    return np.clip(rgb, 0, 255).astype(np.uint8)
