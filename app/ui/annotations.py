"""The on-image corner annotations of the scan pane, as RadiAnt and Weasis draw them (Qt-free).

    top left      patient name and ID (or the file name of a plain image); hidden with identifiers
    top right     study date, series description, modality
    bottom left   window width / level
    bottom right  slice number, pixel spacing
"""

from __future__ import annotations

from typing import Any


def _date(value: str | None) -> str:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


def _person(name: str | None) -> str:
    return " ".join((name or "").replace("^", " ").split())


def corner_texts(scan: Any, index: int, count: int, window: tuple[float, float] | None, *,
                 hide_identifiers: bool) -> dict[str, str]:
    """{corner: text} for the scan on screen (``window``: (centre, width) as shown, or None)."""
    metadata = getattr(scan, "metadata", None)
    dicom = metadata is not None and not getattr(metadata, "is_empty", True)
    if hide_identifiers:
        top_left = ""
    elif dicom:
        name, pid = _person(metadata.patient_name), metadata.patient_id or ""
        top_left = "\n".join(x for x in (name, f"ID {pid}" if pid else "") if x) or getattr(scan, "label", "")
    else:
        top_left = getattr(scan, "label", "")
    top_right = ""
    if dicom:
        parts = [_date(metadata.study_date), metadata.series_description or "", metadata.modality or ""]
        top_right = "\n".join(p for p in parts if p)
    bottom_left = "" if window is None else f"W {window[1]:.0f}  L {window[0]:.0f}"
    lines = [f"Slice {index + 1} / {count}"] if count > 1 else []
    spacing = getattr(metadata, "pixel_spacing", None) if metadata is not None else None
    if spacing:
        lines.append(f"{float(spacing[0]):.2g} × {float(spacing[1]):.2g} mm")
    return {"top_left": top_left, "top_right": top_right, "bottom_left": bottom_left,
            "bottom_right": "\n".join(lines)}
