"""The export work the GUI runs on worker threads (no Qt here): PDF reports and DICOM objects.

Each job writes one file with an app.core.report_* function, records the export in the audit
trail, and yields the path written. Errors from the file system become ``BrainLensError`` with a
sentence the user can act on ("choose another folder"), shown by the window in a dialog.

    scan_report_job       → the one-scan PDF (the overlay as the user saw it)
    series_report_job     → the series PDF (summary, P(tumour) profile, key slices)
    batch_report_job      → the batch PDF from the table's items (their thumbnails kept as small JPEGs)
    secondary_capture_job → the shown overlay as a DICOM Secondary Capture in the scan's study
    encapsulated_pdf_job  → the scan or series report wrapped as DICOM Encapsulated PDF
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import BrainLensError
from app.core.reports.audit import EXPORT_DICOM, EXPORT_REPORT


def _unwritable(path: Path, error: OSError) -> BrainLensError:
    reason = error.strerror or str(error)
    return BrainLensError(f"{path.name} could not be written in {path.parent} ({reason}). "
                          "Choose another folder.")


def _writing(path: Path, write: Any) -> Path:
    """Calls ``write()``; file-system errors become a sentence for the user."""
    try:
        return Path(write())
    except OSError as error:
        raise _unwritable(path, error) from error


def scan_report_job(path: Path, scan: Any, prediction: Any, model_info: Any, *, anonymise: bool,
                    overlay_rgb: np.ndarray | None = None, colormap: str | None = None,
                    audit: Any = None) -> Iterator[Path]:
    from app.core.reports.pdf import write_scan_report

    extra = {"colormap": colormap} if colormap else {}
    written = _writing(path, lambda: write_scan_report(path, scan, prediction, model_info=model_info,
                                                       overlay_rgb=overlay_rgb, anonymise=anonymise, **extra))
    if audit is not None:
        audit.export(EXPORT_REPORT, prediction, getattr(scan, "file_sha256", None), model_info)
    yield written


def series_report_job(path: Path, scans: Sequence[Any], predictions: Sequence[Any], model_info: Any, *,
                      anonymise: bool, colormap: str | None = None, opacity: float | None = None,
                      audit: Any = None) -> Iterator[Path]:
    from app.core.reports.pdf import key_slice_indices, write_series_report

    extra: dict[str, Any] = {}
    if colormap:
        extra["colormap"] = colormap
    if opacity is not None:
        extra["opacity"] = opacity
    written = _writing(path, lambda: write_series_report(path, scans, predictions, model_info=model_info,
                                                         anonymise=anonymise, **extra))
    if audit is not None:
        top = key_slice_indices(predictions, 1)
        index = top[0] if top else 0
        audit.export(EXPORT_REPORT, predictions[index], getattr(scans[index], "file_sha256", None), model_info)
    yield written


def batch_report_job(path: Path, items: Iterable[Any], model_info: Any, *, anonymise: bool,
                     audit: Any = None) -> Iterator[Path]:
    from app.core.reports.batch_pdf import write_batch_report

    kept = list(items)  # the table's items: pixels released, thumbnails kept (``sinks.ReleasePixels``)
    written = _writing(path, lambda: write_batch_report(path, kept, model_info=model_info, anonymise=anonymise))
    if audit is not None:
        audit.export(EXPORT_REPORT, None, None, model_info)
    yield written


def secondary_capture_job(path: Path, overlay_rgb: np.ndarray, scan: Any, prediction: Any, model_info: Any, *,
                          anonymise: bool, audit: Any = None) -> Iterator[Path]:
    from app.core.reports.dicom_outputs import write_secondary_capture

    written = _writing(path, lambda: write_secondary_capture(path, overlay_rgb, scan, anonymise=anonymise))
    if audit is not None:
        audit.export(EXPORT_DICOM, prediction, getattr(scan, "file_sha256", None), model_info)
    yield written


def encapsulated_pdf_job(path: Path, scans: Sequence[Any], predictions: Sequence[Any], index: int,
                         model_info: Any, *, anonymise: bool, overlay_rgb: np.ndarray | None = None,
                         colormap: str | None = None, opacity: float | None = None,
                         audit: Any = None) -> Iterator[Path]:
    """The scan report (one scan) or the series report (several) wrapped as DICOM Encapsulated PDF
    in the study of ``scans[index]``; the PDF inside is anonymised like the DICOM header."""
    from app.core.reports.dicom_outputs import write_encapsulated_pdf

    scan = scans[index]
    with tempfile.TemporaryDirectory(prefix="brainlens-") as tmp:
        pdf = Path(tmp) / "report.pdf"
        if len(scans) == 1:
            next(scan_report_job(pdf, scan, predictions[0], model_info, anonymise=anonymise,
                                 overlay_rgb=overlay_rgb, colormap=colormap))
        else:
            next(series_report_job(pdf, scans, predictions, model_info, anonymise=anonymise,
                                   colormap=colormap, opacity=opacity))
        written = _writing(path, lambda: write_encapsulated_pdf(path, pdf, scan, anonymise=anonymise))
    if audit is not None:
        audit.export(EXPORT_DICOM, predictions[index], getattr(scan, "file_sha256", None), model_info)
    yield written
