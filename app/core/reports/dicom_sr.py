"""The classification as a DICOM Structured Report (Comprehensive 3D SR, built with highdicom).

The report joins the classified images' study (highdicom copies the Patient and Study modules from
the evidence) and holds, as coded content:

* the algorithm: name (DCM 111001), version (DCM 111003) and the model file's SHA-256;
* per classified image, a container with the image reference (DCM 121112 "Source of Measurement",
  SOP class/instance and frame), the finding (DCM 121071) coded in BrainLens's private scheme
  ``99BRAINLENS`` and, for an assessed image, one probability (UCUM "1", a ratio 0..1) per class.

An image the out-of-distribution guard did not assess gets the finding "Not assessed" and its
reasons as text, never a class and never class probabilities.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

SCHEME = "99BRAINLENS"
SR_SERIES_NUMBER = 9903
SR_SERIES_DESCRIPTION = "BrainLens classification - NOT FOR DIAGNOSTIC USE"
NOT_ASSESSED_CODE = "not-assessed"
DISCLAIMER = "Research use only - NOT FOR DIAGNOSTIC USE. Not a medical device."


def _hd():
    import highdicom

    return highdicom


def concept(value: str, meaning: str, scheme: str = SCHEME):
    return _hd().sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def report_title():
    return concept("report", "BrainLens classification report")


def finding_name():
    return concept("121071", "Finding", "DCM")


def probability_name(class_name: str):
    return concept(f"p-{class_name}"[:16], f"Probability of {class_name}")


def class_code(class_name: str, display_name: str | None = None):
    return concept(class_name[:16], display_name or class_name)


@dataclass(frozen=True)
class ClassifiedImage:
    """One classified instance: its DICOM file and the prediction (an ``inference.Prediction``)."""

    source: Path
    prediction: Any
    frame: int | None = None  # 0-based frame in a multi-frame file


def _image_container(image: ClassifiedImage, header: Dataset, display_names: dict[str, str]):
    hd = _hd()
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    container = hd.sr.ContainerContentItem(name=concept("image-result", "Image classification"),
                                           relationship_type=contains)
    frames = [image.frame + 1] if image.frame is not None else None
    items = [hd.sr.ImageContentItem(
        name=concept("121112", "Source of Measurement", "DCM"),
        referenced_sop_class_uid=header.SOPClassUID, referenced_sop_instance_uid=header.SOPInstanceUID,
        referenced_frame_numbers=frames, relationship_type=contains)]
    p = image.prediction
    if not getattr(p, "assessed", True):
        items.append(hd.sr.CodeContentItem(name=finding_name(), value=concept(NOT_ASSESSED_CODE, "Not assessed"),
                                           relationship_type=contains))
        reasons = "; ".join(getattr(p, "ood_reasons", ()) or ()) or "the image does not look like an axial brain MRI slice"
        items.append(hd.sr.TextContentItem(name=concept("na-reason", "Reason not assessed"),
                                           value=reasons[:1024], relationship_type=contains))
    else:
        items.append(hd.sr.CodeContentItem(
            name=finding_name(), value=class_code(p.predicted_class, display_names.get(p.predicted_class)),
            relationship_type=contains))
        ratio = hd.sr.CodedConcept(value="1", scheme_designator="UCUM", meaning="ratio")
        for name, value in zip(p.class_names, p.probabilities):
            items.append(hd.sr.NumContentItem(name=probability_name(name), value=round(float(value), 6),
                                              unit=ratio, relationship_type=contains))
    container.ContentSequence = items
    return container


# Type 2 attributes highdicom copies from the evidence into the SR; a scanner may leave some out.
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "StudyID", "AccessionNumber", "ReferringPhysicianName")


def _evidence_header(path: Path) -> Dataset:
    header = pydicom.dcmread(path, stop_before_pixels=True)
    for keyword in _TYPE2_COPIED:
        if keyword not in header:
            setattr(header, keyword, "")
    return header


def build_classification_sr(images: list[ClassifiedImage], model_info: Any, *,
                            series_instance_uid: str | None = None) -> Dataset:
    """The SR dataset for ``images`` (all DICOM files of one study) classified by ``model_info``
    (a ``model.identity.ModelInfo``: name, version, sha256, display_names)."""
    if not images:
        raise ValueError("a structured report needs at least one classified DICOM image")
    hd = _hd()
    headers = [_evidence_header(image.source) for image in images]
    studies = {str(h.StudyInstanceUID) for h in headers}
    if len(studies) != 1:
        raise ValueError("the classified images belong to more than one study: one report per study")
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    has = hd.sr.RelationshipTypeValues.HAS_OBS_CONTEXT
    display_names = dict(getattr(model_info, "display_names", {}) or {})
    root = hd.sr.ContainerContentItem(name=report_title())
    root.ContentSequence = [
        hd.sr.TextContentItem(name=concept("111001", "Algorithm Name", "DCM"), value=str(model_info.name),
                              relationship_type=has),
        hd.sr.TextContentItem(name=concept("111003", "Algorithm Version", "DCM"), value=str(model_info.version),
                              relationship_type=has),
        hd.sr.TextContentItem(name=concept("model-sha256", "Model file SHA-256"), value=str(model_info.sha256),
                              relationship_type=has),
        hd.sr.TextContentItem(name=concept("disclaimer", "Disclaimer"), value=DISCLAIMER, relationship_type=contains),
        *(_image_container(image, header, display_names) for image, header in zip(images, headers)),
    ]
    unique_evidence = list({str(h.SOPInstanceUID): h for h in headers}.values())
    sr = hd.sr.Comprehensive3DSR(
        evidence=unique_evidence, content=root,
        series_instance_uid=series_instance_uid or generate_uid(), series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="BrainLens",
        is_complete=True, is_final=False, is_verified=False)
    sr.SeriesDescription = SR_SERIES_DESCRIPTION
    now = _dt.datetime.now()
    sr.ContentDate, sr.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    return sr


def write_classification_sr(path: str | Path, images: list[ClassifiedImage], model_info: Any) -> Path:
    path = Path(path)
    build_classification_sr(images, model_info).save_as(path, enforce_file_format=True)
    return path


def read_findings(sr: Dataset) -> list[dict[str, Any]]:
    """Per image: {"sop_instance_uid", "finding", "probabilities"} read back from an SR this module wrote."""
    results = []
    for item in sr.ContentSequence:
        if item.ValueType != "CONTAINER":
            continue
        entry: dict[str, Any] = {"probabilities": {}}
        for child in item.ContentSequence:
            name = child.ConceptNameCodeSequence[0].CodeValue
            if child.ValueType == "IMAGE":
                entry["sop_instance_uid"] = child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            elif child.ValueType == "CODE" and name == "121071":
                entry["finding"] = child.ConceptCodeSequence[0].CodeValue
            elif child.ValueType == "NUM":
                measured = child.MeasuredValueSequence[0]
                entry["probabilities"][name.removeprefix("p-")] = float(measured.NumericValue)
        results.append(entry)
    return results
