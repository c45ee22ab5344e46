"""What to look for on a PACS (``StudyQuery``) and what was found (``SeriesMatch``, one per series).

A query is matched at the series level of the Study Root model (PS3.4 C.6.2): patient name or
ID, a study date range, modality, study or series description, or UIDs. The same query becomes a
C-FIND identifier (``identifier``) or QIDO-RS search parameters (``qido_params``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from pydicom.dataset import Dataset

from app.core.errors import PacsError

# Returned for every match (PS3.4 C.6.2.1.2): what the results table and the reports show.
RETURN_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyDescription", "StudyInstanceUID",
    "SeriesInstanceUID", "SeriesDescription", "Modality", "SeriesNumber", "NumberOfSeriesRelatedInstances",
)
_DATE_RANGE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")
_QUERY_ALIASES = {
    "patient": "patient_name", "name": "patient_name", "patient_name": "patient_name",
    "id": "patient_id", "patient_id": "patient_id", "date": "dates", "dates": "dates",
    "study_date": "dates", "modality": "modality", "description": "description",
    "study_uid": "study_uid", "series_uid": "series_uid",
}


@dataclass(frozen=True)
class StudyQuery:
    """Empty fields match anything. ``dates`` is DICOM DA range syntax: "20260115", "20260101-", "-20260131"."""

    patient_name: str = ""  # "*" wildcards allowed (PS3.4 C.2.2.2.4)
    patient_id: str = ""
    dates: str = ""
    modality: str = ""
    description: str = ""  # study description; "*" wildcards allowed
    study_uid: str = ""
    series_uid: str = ""

    def validated(self) -> StudyQuery:
        if self.dates and not _DATE_RANGE.match(self.dates.replace(" ", "")):
            raise PacsError(f"The date {self.dates!r} is not YYYYMMDD or a range YYYYMMDD-YYYYMMDD.")
        if "\\" in "".join(getattr(self, f.name) for f in fields(self)):
            raise PacsError("A query value may not contain a backslash.")
        return self

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def identifier(self) -> Dataset:
        """The C-FIND identifier at SERIES level (unset return keys are empty: "send me this")."""
        self.validated()
        ds = Dataset()
        ds.QueryRetrieveLevel = "SERIES"
        for keyword in RETURN_KEYWORDS:
            setattr(ds, keyword, "")
        ds.PatientName = self.patient_name
        ds.PatientID = self.patient_id
        ds.StudyDate = self.dates.replace(" ", "")
        ds.Modality = self.modality
        ds.StudyDescription = self.description
        ds.StudyInstanceUID = self.study_uid
        ds.SeriesInstanceUID = self.series_uid
        return ds

    def qido_params(self) -> dict[str, str]:
        """QIDO-RS search filters (PS3.18 8.3.4) for a series search."""
        self.validated()
        pairs = (("PatientName", self.patient_name), ("PatientID", self.patient_id),
                 ("StudyDate", self.dates.replace(" ", "")), ("Modality", self.modality),
                 ("StudyDescription", self.description), ("StudyInstanceUID", self.study_uid),
                 ("SeriesInstanceUID", self.series_uid))
        return {key: value for key, value in pairs if value}


def parse_query(text: str) -> StudyQuery:
    """``"patient_id=BL-0001,date=20260101-20260131,modality=MR"`` → a ``StudyQuery`` (the CLI's syntax)."""
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        field = _QUERY_ALIASES.get(key.strip().lower())
        if not sep or field is None:
            keys = ", ".join(sorted(set(_QUERY_ALIASES)))
            raise PacsError(f"Cannot read the query part {part!r}: write KEY=VALUE with KEY one of {keys}.")
        values[field] = value.strip()
    query = StudyQuery(**values).validated()
    if query.is_empty:
        raise PacsError("The query is empty: give at least one of patient, id, date, modality, description.")
    return query


@dataclass(frozen=True)
class SeriesMatch:
    """One series a PACS returned. ``n_images`` is None when the PACS did not say."""

    study_uid: str
    series_uid: str
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    study_date: str = ""
    study_description: str = ""
    series_description: str = ""
    modality: str = ""
    series_number: int | None = None
    n_images: int | None = None

    def __repr__(self) -> str:  # identifiers never reach a log
        return f"SeriesMatch(series_uid={self.series_uid!r}, modality={self.modality!r}, n_images={self.n_images})"

    @classmethod
    def from_dataset(cls, ds: Dataset) -> SeriesMatch:
        def text(keyword: str) -> str:
            value = ds.get(keyword, "")
            return "" if value is None else str(value)

        def number(keyword: str) -> int | None:
            value = ds.get(keyword)
            try:
                return int(value) if value not in (None, "") else None
            except (TypeError, ValueError):
                return None

        return cls(study_uid=text("StudyInstanceUID"), series_uid=text("SeriesInstanceUID"),
                   patient_name=text("PatientName"), patient_id=text("PatientID"),
                   patient_birth_date=text("PatientBirthDate"), study_date=text("StudyDate"),
                   study_description=text("StudyDescription"), series_description=text("SeriesDescription"),
                   modality=text("Modality"), series_number=number("SeriesNumber"),
                   n_images=number("NumberOfSeriesRelatedInstances"))
