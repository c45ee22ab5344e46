"""The refusal reason a DICOM header can give outright: the scan is not an MRI.

The image-based guard (``app.core.model.ood``) only sees pixels, so a CT slice is refused for a
consequence ("the outline is not symmetric", "features far from MRI") instead of its cause. The header's
Modality (0008,0060) names the cause: a CT says "this is a CT, not an MRI", and the image signals that
follow from it are not listed. Plain images carry no modality and are judged on their pixels alone;
"OT" (other) is allowed, since MR screenshots and secondary captures are often stored that way.

``describe_reason`` extends ``ood.describe_reason`` with these reasons, for the GUI, the CLI and the PDFs.
"""

from __future__ import annotations

from app.core.model import ood

PREFIX = "modality_"
ACCEPTED = ("MR", "OT")
MODALITY_WORDS = {
    "CT": "a CT", "PT": "a PET scan", "NM": "a nuclear medicine image", "US": "an ultrasound image",
    "CR": "an X-ray", "DX": "an X-ray", "MG": "a mammogram", "XA": "an X-ray angiogram",
    "RF": "a fluoroscopy image", "SC": "a secondary capture", "SR": "a structured report",
}


def modality_reason(modality: str | None) -> str | None:
    """"modality_CT" for a header that names a modality other than MR (None: nothing to refuse)."""
    code = (modality or "").strip().upper()
    if not code or code in ACCEPTED:
        return None
    return PREFIX + code


def scan_modality_reason(scan: object) -> str | None:
    """The reason for a loaded ``Scan`` (its DICOM metadata), None for MR and plain images."""
    return modality_reason(getattr(getattr(scan, "metadata", None), "modality", None))


def describe_reason(reason: str) -> str:
    """Plain words for any "not assessed" reason (modality reasons here, the rest from ``ood``)."""
    if reason.startswith(PREFIX):
        code = reason[len(PREFIX):]
        what = MODALITY_WORDS.get(code, f"a {code} image")
        return f"this is {what}, not an MRI (the DICOM header says Modality {code})"
    return ood.describe_reason(reason)


def with_modality(reasons: tuple[str, ...], reason: str | None) -> tuple[str, ...]:
    """The reasons to report: the modality alone when the header gives one (its pixel-level symptoms
    would only distract), else the image guard's, unchanged. A damaged model stays reported."""
    if reason is None:
        return reasons
    return (reason,) + tuple(r for r in reasons if r == ood.INVALID_OUTPUT)
