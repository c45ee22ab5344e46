"""File ▸ Export report…, Save heatmap as DICOM…, Save report as DICOM…: what is exported, where,
and with or without patient identifiers; the writing itself runs on a worker (app.ui.report_jobs).

``ReportExporter`` reads the window's state (the scan on screen, its predictions, the overlay as
shown, the batch table) and starts one export at a time, with a busy bar in the status bar, an
error dialog when it fails and the path in the status bar when it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QCheckBox, QFileDialog, QGridLayout, QProgressBar, QWidget

from app.core.errors import BrainLensError
from app.ui import report_jobs
from app.ui.workers import GeneratorWorker, start_worker

ANONYMISE_TEXT = "Anonymise (remove patient identifiers)"
PDF_FILTER = "PDF documents (*.pdf)"
EXPORT_FOLDER_KEY = "export/last_folder"
DICOM_FILTER = "DICOM files (*.dcm)"


def ask_save_path(parent: QWidget | None, title: str, suggested: str, file_filter: str,
                  anonymise: bool) -> tuple[Path, bool] | None:
    """A save dialog with an "Anonymise" check box under the file list; (path, anonymise) or None.

    Qt's own (non-native) dialog, since a native one cannot hold the check box."""
    start = Path(suggested)
    folder = str(start.parent) if start.parent != Path(".") else ""
    dialog = QFileDialog(parent, title, folder, file_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setDefaultSuffix(start.suffix.lstrip("."))
    dialog.selectFile(start.name)
    box = QCheckBox(ANONYMISE_TEXT)
    box.setObjectName("anonymiseBox")
    box.setToolTip("Leaves out the patient's name, ID, birth date and the file names")
    box.setChecked(anonymise)
    layout = dialog.layout()
    if isinstance(layout, QGridLayout):
        layout.addWidget(box, layout.rowCount(), 0, 1, layout.columnCount())
    if not dialog.exec() or not dialog.selectedFiles():
        return None
    return Path(dialog.selectedFiles()[0]), box.isChecked()


def safe_stem(text: str) -> str:
    """A file-name stem from a scan label (no path separators or odd characters)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return stem[:60] or "scan"


def is_dicom(scan: Any) -> bool:
    metadata = getattr(scan, "metadata", None)
    return bool(metadata is not None and (metadata.sop_instance_uid or metadata.study_instance_uid))


class ReportExporter(QObject):
    """``exported(path)`` fires once a file is written, ``failed(message)`` when an export fails."""

    exported = Signal(object)
    failed = Signal(str)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.worker: GeneratorWorker | None = None
        self.ask: Callable[..., tuple[Path, bool] | None] = ask_save_path
        self.busy = QProgressBar()
        self.busy.setObjectName("exportBusy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.hide()
        window.statusBar().insertPermanentWidget(0, self.busy)  # a temporary message hides plain widgets

    # --- what can be exported --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.is_done

    def batch_showing(self) -> bool:
        """The batch is what the user looks at: its table shows results and nothing was opened in the
        viewer since it started (a series shown from the batch, or opened after it, is exported instead)."""
        w = self.window
        return w.batch_dock.isVisible() and bool(w.batch.model.items) and w.export_target == "batch"

    def save_folder(self) -> str:
        """Where save dialogs start: the folder last saved to, else the user's documents, never the
        scans' own folder (a DICOM folder from a CD or PACS export is no place for reports)."""
        last = self.window.store.value(EXPORT_FOLDER_KEY, "")
        if last and Path(str(last)).is_dir():
            return str(last)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return documents if documents and Path(documents).is_dir() else str(Path.home())

    def remember_folder(self, path: Path) -> None:
        self.window.store.setValue(EXPORT_FOLDER_KEY, str(Path(path).parent))

    def can_save_dicom(self) -> bool:
        view = self.window.view
        scan = view.current_scan()
        return scan is not None and view.index in view.predictions and is_dicom(scan)

    def report_kind(self) -> str:
        """What Ctrl+E exports now: "batch", "series" or "scan"."""
        if self.batch_showing():
            return "batch"
        return "series" if len(self.window.view.scans) > 1 else "scan"

    def _anonymise_default(self) -> bool:
        return self.window.metadata.hide_identifiers.isChecked()

    def _model_info(self) -> Any:
        if self.window.model_info is None:
            raise BrainLensError("No model is loaded, so there is no result to export.")
        return self.window.shown_model_info()  # flags under the user's threshold, as on screen

    def _viewer_content(self) -> tuple[list[Any], list[Any]]:
        """(scans, predictions) of the viewer; every slice of a series must be classified."""
        view = self.window.view
        if view.current_scan() is None:
            raise BrainLensError("Open a scan first (File ▸ Open file…).")
        if view.index not in view.predictions:
            raise BrainLensError("The scan is not classified yet: wait for the result, then export.")
        if len(view.scans) > 1 and len(view.predictions) < len(view.scans):
            raise BrainLensError(f"The series is still being classified ({len(view.predictions)} of "
                                 f"{len(view.scans)} slices): export when every slice has a result.")
        if len(view.scans) == 1:
            return list(view.scans), [view.predictions[view.index]]
        return list(view.scans), [view.predictions[i] for i in range(len(view.scans))]

    # --- actions ---------------------------------------------------------------------------------
    def export_report(self) -> None:
        """Ctrl+E: the batch PDF when the batch table shows results, else the scan or series PDF."""
        if self.batch_showing():
            self.export_batch_report()
        else:
            self.export_viewer_report()

    def export_viewer_report(self) -> None:
        def plan() -> tuple:
            info = self._model_info()
            scans, predictions = self._viewer_content()
            view = self.window.view
            if len(scans) > 1:
                name = safe_stem(scans[0].source.parent.name) + "-series-report.pdf"
                return ("Export series report", name, PDF_FILTER, lambda path, anonymise: (
                    report_jobs.series_report_job, path, scans, predictions, info),
                    {"colormap": view.colormap(), "opacity": view.opacity()})
            scan = view.current_scan()
            return ("Export scan report", safe_stem(scan.source.stem) + "-report.pdf", PDF_FILTER,
                    lambda path, anonymise: (report_jobs.scan_report_job, path, scan, predictions[0], info),
                    {"overlay_rgb": view.shown_overlay, "colormap": view.colormap()})
        self._run(plan)

    def export_batch_report(self) -> None:
        def plan() -> tuple:
            info = self._model_info()
            if self.window._batch_worker is not None:
                raise BrainLensError("The batch is still running: export its report when it has finished "
                                     "(or cancel it).")
            items = list(self.window.batch.model.items)
            if not items:
                raise BrainLensError("Run a batch first (File ▸ Open folder).")
            return ("Export batch report", "brainlens-batch-report.pdf", PDF_FILTER,
                    lambda path, anonymise: (report_jobs.batch_report_job, path, items, info), {})
        self._run(plan)

    def save_heatmap_dicom(self) -> None:
        def plan() -> tuple:
            info = self._model_info()
            view = self.window.view
            scan = view.current_scan()
            if scan is None or view.index not in view.predictions or view.shown_overlay is None:
                raise BrainLensError("Open a DICOM scan and wait for its result first.")
            if not is_dicom(scan):
                raise BrainLensError("Only a DICOM scan's heatmap can be saved as DICOM (it joins the scan's study).")
            overlay, prediction = view.shown_overlay.copy(), view.predictions[view.index]
            return ("Save heatmap as DICOM", safe_stem(scan.source.stem) + "-gradcam.dcm", DICOM_FILTER,
                    lambda path, anonymise: (report_jobs.secondary_capture_job, path, overlay, scan,
                                             prediction, info), {})
        self._run(plan)

    def save_report_dicom(self) -> None:
        def plan() -> tuple:
            info = self._model_info()
            scans, predictions = self._viewer_content()
            view = self.window.view
            if not is_dicom(view.current_scan()):
                raise BrainLensError("Only a DICOM scan's report can be saved as DICOM (it joins the scan's study).")
            index = view.index if len(scans) > 1 else 0
            return ("Save report as DICOM", safe_stem(view.current_scan().source.stem) + "-report.dcm",
                    DICOM_FILTER, lambda path, anonymise: (report_jobs.encapsulated_pdf_job, path, scans,
                                                           predictions, index, info),
                    {"overlay_rgb": view.shown_overlay, "colormap": view.colormap(), "opacity": view.opacity()})
        self._run(plan)

    # --- running ---------------------------------------------------------------------------------
    def _run(self, plan: Callable[[], tuple]) -> None:
        if self.running:
            self.window.statusBar().showMessage("An export is already being written…", 5000)
            return
        try:
            title, suggested, file_filter, make_args, options = plan()
        except BrainLensError as error:
            self.window._show_error("Nothing to export", error, in_panel=False)
            return
        start = str(Path(self.save_folder()) / suggested)
        answer = self.ask(self.window, title, start, file_filter, self._anonymise_default())
        if answer is None:
            return
        path, anonymise = answer
        self.remember_folder(Path(path))
        job, *args = make_args(Path(path), anonymise)
        self.busy.show()
        self.window.statusBar().showMessage(f"Writing {Path(path).name}…")
        self.worker = start_worker(job, *args, anonymise=anonymise, audit=self.window.audit, **options,
                                   on_yield=self._written, on_error=self._failed,
                                   on_finish=self._finished, name="export")

    def _written(self, path: Path) -> None:
        self.window.statusBar().showMessage(f"Saved {path}", 15000)
        self.exported.emit(path)

    def _failed(self, error: BaseException) -> None:
        self.window._show_error("The export failed", error, in_panel=False)
        self.failed.emit(str(error))

    def _finished(self) -> None:
        self.busy.hide()
