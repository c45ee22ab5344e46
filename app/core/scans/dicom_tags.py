"""Every tag of a DICOM file as rows of text, for the tag browser (header only; pixels are not read).

Sequences are flattened with their depth, so a nested item shows under its sequence. With
``hide_identifiers`` the values of the identifying tags (patient, institution, physicians, dates of
birth; the same set ``ScanMetadata.anonymised`` clears and more) read "(hidden)".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.errors import ScanLoadError

MAX_VALUE_CHARS = 200
IDENTIFYING_KEYWORDS = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientAddress", "OtherPatientIDs",
    "OtherPatientNames", "PatientTelephoneNumbers", "PatientMotherBirthName", "MedicalRecordLocator",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "AccessionNumber",
    "StationName", "InstitutionalDepartmentName", "RequestingPhysician", "IssuerOfPatientID",
})
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class TagRow:
    tag: str  # "(0010,0010)"
    keyword: str  # "PatientName"; "" for private tags
    vr: str
    value: str
    depth: int = 0  # 0 for top-level tags, 1 inside a sequence item, ...

    def matches(self, text: str) -> bool:
        needle = text.strip().lower()
        return not needle or any(needle in field.lower() for field in (self.tag, self.keyword, self.value))


def read_tags(path: str | Path, *, hide_identifiers: bool = False) -> list[TagRow]:
    """The file's tags in order (its file meta first). Raises ``ScanLoadError`` for a non-DICOM file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ScanLoadError("This file has no DICOM header to show.", path) from exc
    rows: list[TagRow] = []
    meta = getattr(dataset, "file_meta", None)
    for source in ((meta,) if meta is not None else ()) + (dataset,):
        _walk(source, 0, hide_identifiers, rows)
    return rows


def _walk(dataset, depth: int, hide: bool, rows: list[TagRow]) -> None:
    for element in dataset:
        keyword = element.keyword or ""
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        if element.VR == "SQ":
            rows.append(TagRow(tag, keyword, "SQ", f"{len(element.value)} item(s)", depth))
            for item in element.value:
                _walk(item, depth + 1, hide, rows)
            continue
        rows.append(TagRow(tag, keyword, str(element.VR), _value_text(element, hide and keyword in IDENTIFYING_KEYWORDS), depth))


def _value_text(element, hidden: bool) -> str:
    if hidden:
        return HIDDEN
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "UN"):
        size = len(element.value) if element.value is not None else 0
        return f"<{size} bytes>"
    text = str(element.value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
