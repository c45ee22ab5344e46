"""Who a non-anonymised batch report is about: patient name, ID, birth date and study date per study.

A report to be filed must identify the patient. The batch PDF collects one ``StudyIdentity`` per
DICOM study among its items (from ``item.metadata`` or ``item.scan.metadata``) and prints them in
its header. An anonymised report never calls this: it keeps leaving identifiers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Table, TableStyle

from app.core.reports.layout import CONTENT_WIDTH, MUTED, RULE, para


@dataclass(frozen=True)
class StudyIdentity:
    study_uid: str
    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    study_description: str


def person_name(value: str | None) -> str:
    """DICOM PN "Family^Given^Middle^Prefix^Suffix" as "Family, Given Middle" (PS3.5 6.2.1)."""
    parts = [p.strip() for p in str(value or "").split("=")[0].split("^")]
    family, given = (parts + ["", ""])[:2]
    rest = " ".join(p for p in [given, *parts[2:3]] if p)
    return f"{family}, {rest}" if family and rest else family or rest


def dicom_date(value: str | None) -> str:
    """DICOM DA "YYYYMMDD" as "YYYY-MM-DD" (anything else as it is)."""
    text = str(value or "").strip()
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def study_identity(item: Any) -> StudyIdentity | None:
    """The identity of the item's DICOM study, or None (a JPG, or metadata without a study UID)."""
    metadata = getattr(item, "metadata", None) or getattr(getattr(item, "scan", None), "metadata", None)
    uid = getattr(metadata, "study_instance_uid", None)
    if metadata is None or not uid:
        return None
    return StudyIdentity(str(uid), person_name(metadata.patient_name), metadata.patient_id or "",
                         dicom_date(metadata.patient_birth_date), dicom_date(metadata.study_date),
                         metadata.study_description or "")


class StudyIdentities:
    """The studies met among a report's items, in the order first seen."""

    def __init__(self) -> None:
        self._by_uid: dict[str, StudyIdentity] = {}

    def note(self, item: Any) -> None:
        identity = study_identity(item)
        if identity is not None and identity.study_uid not in self._by_uid:
            self._by_uid[identity.study_uid] = identity

    @property
    def studies(self) -> list[StudyIdentity]:
        return list(self._by_uid.values())

    def story(self) -> list:
        """The header block: one row per study (nothing when no item came from a DICOM study)."""
        if not self._by_uid:
            return []
        header = ["Patient", "Patient ID", "Birth date", "Study date", "Study"]
        rows = [[s.patient_name or "—", s.patient_id or "—", s.birth_date or "—", s.study_date or "—",
                 s.study_description or "—"] for s in self.studies]
        widths = [48 * mm, 32 * mm, 24 * mm, 24 * mm]
        widths.append(CONTENT_WIDTH - sum(widths))
        table = Table([[para(h, "label") for h in header]] + [[para(c, "cell") for c in r] for r in rows],
                      colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, 0), 0.8, MUTED),
                                   ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 3),
                                   ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
        title = "Patient" if len(rows) == 1 else f"Patients and studies ({len(rows)})"
        return [para(title, "h2"), table]
