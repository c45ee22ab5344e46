"""DICOM outputs that radiology systems file next to the original study.

* ``write_secondary_capture``: the Grad-CAM overlay as a Secondary Capture Image (PS3.3 A.8.1)
  in a new series of the scan's study, marked "NOT FOR DIAGNOSTIC USE".
* ``write_encapsulated_pdf``: a PDF report as Encapsulated PDF Storage (PS3.3 A.45.1).

Both copy the Patient and General Study modules from the source DICOM file (its header is read
again, so fields the loader does not keep, such as AccessionNumber, come along) and reference the
source image. With ``anonymise=True`` the patient module is replaced by "ANONYMOUS" and the
study gets a new UID: the original Study Instance UID identifies a visit, and a de-identified
object must not point back to it. A source that is not DICOM (JPG, PNG) gets a new study too.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    UID,
    generate_uid,
)

from app.core.version import app_version

NOT_FOR_DIAGNOSIS = "NOT FOR DIAGNOSTIC USE"
SC_SERIES_DESCRIPTION = f"BrainLens Grad-CAM overlay - {NOT_FOR_DIAGNOSIS}"
PDF_SERIES_DESCRIPTION = f"BrainLens report - {NOT_FOR_DIAGNOSIS}"
SC_SERIES_NUMBER = 9901
PDF_SERIES_NUMBER = 9902
MANUFACTURER = "BrainLens"
ANONYMOUS_NAME = "ANONYMOUS"

PATIENT_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "PatientAge", "OtherPatientIDsSequence", "EthnicGroup", "PatientComments",
)
STUDY_KEYWORDS = (
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription",
)


def _source_header(source_scan: Any) -> Dataset | None:
    """The source file's DICOM header, or None when it is not a readable DICOM file."""
    path = getattr(source_scan, "source", None)
    if path is None or not Path(path).is_file():
        return None
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - JPG/PNG or a damaged file: treated as "no DICOM source"
        return None


def _new_dataset(path: Path, sop_class: UID) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = "BRAINLENS"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names and descriptions may not be ASCII
    return ds


def _copy_patient_and_study(ds: Dataset, source_scan: Any, header: Dataset | None,
                            anonymise: bool) -> None:
    metadata = getattr(source_scan, "metadata", None)
    if anonymise:
        ds.PatientName, ds.PatientID = ANONYMOUS_NAME, ""
        ds.PatientBirthDate = ""
        ds.PatientSex = (getattr(metadata, "patient_sex", None) or "") if metadata else ""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "BrainLens: patient module and study identifiers removed"
        ds.StudyInstanceUID = generate_uid()
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "", "", ""
        ds.StudyDescription = (getattr(metadata, "study_description", None) or "") if metadata else ""
        ds.StudyDate = ds.StudyTime = ""
        return
    if header is not None:
        for keyword in PATIENT_KEYWORDS + STUDY_KEYWORDS:
            if keyword in header:
                ds[keyword] = header[keyword]
    elif metadata is not None:  # a loaded scan without a DICOM file behind it
        ds.PatientName = metadata.patient_name or ""
        ds.PatientID = metadata.patient_id or ""
        ds.PatientBirthDate = metadata.patient_birth_date or ""
        ds.PatientSex = metadata.patient_sex or ""
        if metadata.study_instance_uid:
            ds.StudyInstanceUID = metadata.study_instance_uid
        ds.StudyDate = metadata.study_date or ""
        ds.StudyDescription = metadata.study_description or ""
    # Type 2 attributes must be present even when empty (PS3.3 C.7.1.1, C.7.2.1).
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                    "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        if keyword not in ds:
            setattr(ds, keyword, "")
    if "StudyInstanceUID" not in ds or not ds.StudyInstanceUID:
        ds.StudyInstanceUID = generate_uid()


def _common(ds: Dataset, source_scan: Any, header: Dataset | None, *, anonymise: bool,
            series_description: str, series_number: int, modality: str) -> None:
    now = _dt.datetime.now()
    _copy_patient_and_study(ds, source_scan, header, anonymise)
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.InstanceNumber = 1
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = app_version()
    ds.ConversionType = "WSD"  # workstation
    ds.BurnedInAnnotation = "YES"
    if header is not None and not anonymise and "SOPInstanceUID" in header:
        ref = Dataset()
        ref.ReferencedSOPClassUID = header.SOPClassUID
        ref.ReferencedSOPInstanceUID = header.SOPInstanceUID
        frame = getattr(source_scan, "frame", None)
        if frame is not None:
            ref.ReferencedFrameNumber = int(frame) + 1
        ds.SourceImageSequence = DicomSequence([ref])


def write_secondary_capture(path: str | Path, overlay_rgb: np.ndarray, source_scan: Any, *,
                            anonymise: bool = False) -> Path:
    """Writes ``overlay_rgb`` (uint8 HxWx3) as a Secondary Capture in the scan's study.

    Returns the path written. The pixels are stored uncompressed, exactly as given.
    """
    path = Path(path)
    rgb = np.asarray(overlay_rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB overlay, got {rgb.dtype} {rgb.shape}")
    header = _source_header(source_scan)
    ds = _new_dataset(path, SecondaryCaptureImageStorage)
    _common(ds, source_scan, header, anonymise=anonymise, series_description=SC_SERIES_DESCRIPTION,
            series_number=SC_SERIES_NUMBER, modality="OT")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = (
        "Grad-CAM heatmap of a CNN classifier blended over the source image; "
        f"research use only, {NOT_FOR_DIAGNOSIS.lower()}"
    )
    ds.ImageComments = NOT_FOR_DIAGNOSIS
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    spacing = getattr(getattr(source_scan, "metadata", None), "pixel_spacing", None)
    if spacing and not getattr(source_scan, "cropped", False):
        ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.PixelData = np.ascontiguousarray(rgb).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_encapsulated_pdf(path: str | Path, pdf_path: str | Path, source_scan: Any, *,
                           anonymise: bool = False,
                           title: str = "BrainLens classification report") -> Path:
    """Wraps the PDF at ``pdf_path`` as an Encapsulated PDF object in the scan's study.

    ``anonymise`` de-identifies the DICOM header only: wrap a PDF written with ``anonymise=True``
    too, or the document inside still names the patient.
    """
    path = Path(path)
    document = Path(pdf_path).read_bytes()
    if not document.startswith(b"%PDF"):
        raise ValueError(f"{Path(pdf_path).name} is not a PDF file")
    header = _source_header(source_scan)
    ds = _new_dataset(path, EncapsulatedPDFStorage)
    _common(ds, source_scan, header, anonymise=anonymise, series_description=PDF_SERIES_DESCRIPTION,
            series_number=PDF_SERIES_NUMBER, modality="DOC")
    ds.AcquisitionDateTime = _dt.datetime.now().strftime("%Y%m%d%H%M%S")
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = DicomSequence([])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + (b"\0" if len(document) % 2 else b"")
    ds.save_as(path, enforce_file_format=True)
    return path


def read_encapsulated_pdf(path: str | Path) -> bytes:
    """The PDF bytes of an Encapsulated PDF object (padding removed)."""
    ds = pydicom.dcmread(path)
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    return data[: int(length)] if length else data.rstrip(b"\0")
