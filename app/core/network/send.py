"""The DICOM objects BrainLens sends back to a PACS for one study's results.

* the key image's Grad-CAM overlay as a Secondary Capture (``reports.dicom_outputs``) — only for an
  assessed image: a heatmap of a "not assessed" image would suggest a class it was not given;
* the scan or series PDF report as Encapsulated PDF (``reports.dicom_outputs``);
* a Structured Report with every image's finding and probabilities (``reports.dicom_sr``).

All three join the original study (its Patient and Study modules are copied), so they show up
beside the images in any viewer. Results of non-DICOM files cannot be sent: they have no study.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydicom

from app.core.errors import PacsError

OBJECT_KINDS = ("sc", "pdf", "sr")


def is_dicom_source(scan: Any) -> bool:
    path = getattr(scan, "source", None)
    if path is None or not Path(path).is_file():
        return False
    try:
        return "SOPInstanceUID" in pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except Exception:  # noqa: BLE001 - a JPG, a PNG or a damaged file
        return False


def key_index(predictions: Sequence[Any]) -> int:
    """The image a single-picture output shows: the assessed one with the highest P(tumour)."""
    from app.core.reports.pdf import key_slice_indices

    top = key_slice_indices(list(predictions), 1)
    return top[0] if top else 0


def study_result_objects(folder: Path, scans: Sequence[Any], predictions: Sequence[Any], model_info: Any, *,
                         kinds: Sequence[str] = OBJECT_KINDS, index: int | None = None,
                         overlay_rgb: Any = None, colormap: str = "inferno", opacity: float = 0.4) -> list[Path]:
    """Writes the chosen ``kinds`` of objects for the results of one study into ``folder``.

    ``scans[i]`` was classified as ``predictions[i]``; ``index`` picks the key image (default: the
    highest P(tumour)); ``overlay_rgb`` is the overlay the user saw for it (computed when None).
    """
    from app.core.reports.dicom_outputs import (
        write_encapsulated_pdf,
        write_secondary_capture,
    )
    from app.core.reports.dicom_sr import ClassifiedImage, write_classification_sr
    from app.core.reports.pdf import overlay_for, write_scan_report, write_series_report

    unknown = set(kinds) - set(OBJECT_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {OBJECT_KINDS}, got {list(kinds)}")
    pairs = [(s, p) for s, p in zip(scans, predictions) if p is not None and is_dicom_source(s)]
    if not pairs:
        raise PacsError("Only results of DICOM scans can be sent to a PACS (a JPG or PNG has no study to join).")
    dicom_scans, dicom_predictions = [s for s, _ in pairs], [p for _, p in pairs]
    studies = {pydicom.dcmread(s.source, stop_before_pixels=True).StudyInstanceUID for s in dicom_scans}
    if len(studies) != 1:
        raise PacsError("These results come from more than one study; send them one study at a time.")
    if index is None or not 0 <= index < len(dicom_scans):
        index = key_index(dicom_predictions)
    key_scan, key_prediction = dicom_scans[index], dicom_predictions[index]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "sc" in kinds and getattr(key_prediction, "assessed", True):
        picture = overlay_rgb if overlay_rgb is not None else overlay_for(key_scan, key_prediction,
                                                                           colormap=colormap, opacity=opacity)
        written.append(write_secondary_capture(folder / "heatmap-sc.dcm", picture, key_scan))
    if "pdf" in kinds:
        with tempfile.TemporaryDirectory(prefix="brainlens-send-") as tmp:
            pdf = Path(tmp) / "report.pdf"
            if len(dicom_scans) == 1:
                write_scan_report(pdf, key_scan, key_prediction, model_info=model_info, overlay_rgb=overlay_rgb,
                                  colormap=colormap)
            else:
                write_series_report(pdf, dicom_scans, dicom_predictions, model_info=model_info,
                                    colormap=colormap, opacity=opacity)
            written.append(write_encapsulated_pdf(folder / "report-pdf.dcm", pdf, key_scan))
    if "sr" in kinds:
        images = [ClassifiedImage(Path(s.source), p, getattr(s, "frame", None)) for s, p in pairs]
        written.append(write_classification_sr(folder / "classification-sr.dcm", images, model_info))
    return written
