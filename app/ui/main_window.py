"""The BrainLens main window: wires widgets to the core through worker threads.

Nothing here processes images or runs the model itself: loading, classification, windowing and
Grad-CAM are core calls (app.core.*), long ones inside ``app.ui.jobs`` generators on workers. The
window's menus, dialogs, drag-and-drop and batch live in the ``window_*`` mixins beside this module.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea, QWidget

from app.core.errors import BrainLensError
from app.core.model import gradcam
from app.core.model.card import DISCLAIMER
from app.core.model.verdict import class_display_names
from app.ui import jobs
from app.ui.audit_trail import AuditTrail
from app.ui.batch_panel import BatchPanel
from app.ui.export_actions import ReportExporter
from app.ui.metadata_panel import MetadataPanel
from app.ui.results_panel import ResultsPanel
from app.ui.scan_display import ScanDisplay
from app.ui.settings import UiSettings, load_settings, save_settings
from app.ui.slice_keys import SliceKeys, slice_step
from app.ui.viewer_page import ViewerPage
from app.ui.window_batch import BatchMixin
from app.ui.window_dialogs import DialogsMixin, user_message
from app.ui.window_drop import DropMixin
from app.ui.window_menus import MenusMixin
from app.ui.window_volume import VolumeMixin
from app.ui.workers import GeneratorWorker, await_workers, connect_current, start_worker

log = logging.getLogger(__name__)
NOTICE = "Research use only — not for diagnosis"


class MainWindow(MenusMixin, DialogsMixin, DropMixin, BatchMixin, VolumeMixin, QMainWindow):
    """``scan_shown`` fires after a scan is drawn, ``prediction_shown`` after a result is drawn,
    ``batch_finished`` when a batch ends (completed or cancelled)."""

    scan_shown = Signal()
    prediction_shown = Signal()
    model_ready = Signal()
    batch_finished = Signal()

    def __init__(
        self,
        *,
        settings_store: QSettings | None = None,
        model_path: Path | None = None,
        load_model: bool = True,
    ) -> None:
        super().__init__()
        self.store = settings_store or QSettings("BrainLens", "BrainLens")
        self.settings: UiSettings = load_settings(self.store)
        self.model_path = model_path
        self.classifier: Any = None
        self.model_info: Any = None  # app.core.reports.layout.ModelInfo of the classifier (reports, audit)
        self.audit = AuditTrail(parent=self)
        self.audit.failed.connect(self._audit_failed)
        self._load_worker: GeneratorWorker | None = None
        self._classify_worker: GeneratorWorker | None = None
        self._load_target_path: Path | None = None
        self._slice_queue: jobs.SliceQueue | None = None
        self._batch_worker: GeneratorWorker | None = None
        self._model_worker: GeneratorWorker | None = None
        self._inspect_worker: GeneratorWorker | None = None
        self._batch_cancelled = False
        self.export_target = "viewer"  # what Ctrl+E exports: "viewer" or "batch", whichever was shown last
        self._opened_at: float | None = None
        self.timings: dict[str, float] = {}

        self.setWindowTitle("BrainLens")
        self.setAcceptDrops(True)
        self._build_widgets()
        self.exporter = ReportExporter(self)
        self._build_menus()
        self._build_volume_view()
        self._fit_to_screen(1440, 900)
        self.results.heatmap.set_colormaps(list(gradcam.COLORMAPS), self.settings.colormap)
        self.results.heatmap.set_opacity(self.settings.opacity)
        self.metadata.hide_identifiers.setChecked(self.settings.hide_identifiers)
        self.metadata_dock.setVisible(self.settings.show_metadata)
        self._update_recent_menu()
        self.page.show_hint()
        if load_model:
            self.reload_model()
        else:
            self._set_model_label("No model loaded")

    # --- construction ----------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.page = ViewerPage()
        self.viewer = self.page.viewer
        self.setCentralWidget(self.page)
        self.results = ResultsPanel()
        self.metadata = MetadataPanel()
        self.view = ScanDisplay(self.page, self.results, self.metadata,
                                lambda: (self.classifier, self.settings.low_confidence_threshold), self)
        self.view.slice_shown.connect(self._slice_shown)
        self.slice_keys = SliceKeys(lambda step: self.view.show_slice(self.view.index + step),
                                    lambda: len(self.view.scans) > 1, self)
        self.slice_keys.watch(self.page)
        self.page.tags_button.clicked.connect(lambda: self.show_dicom_tags())
        self.results_dock = self._dock("Result", "resultsDock", self._scrolling(self.results, 280),
                                       Qt.DockWidgetArea.RightDockWidgetArea)

        self.metadata.hide_identifiers_changed.connect(self._identifiers_toggled)
        self.metadata_dock = self._dock("Scan information", "metadataDock", self._scrolling(self.metadata, 240),
                                        Qt.DockWidgetArea.LeftDockWidgetArea)
        self.metadata_dock.visibilityChanged.connect(self._metadata_visibility)

        self.batch = BatchPanel()
        self.batch.cancel_requested.connect(self.cancel_batch)
        self.batch.export_requested.connect(self.export_batch_csv)
        self.batch.report_requested.connect(lambda: self.exporter.export_batch_report())
        self.batch.row_activated.connect(self._batch_row_activated)
        self.batch_dock = self._dock("Batch results", "batchDock", self.batch, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.batch_dock.hide()

        status = self.statusBar()
        self.model_label = QLabel("Loading model…")
        self.model_label.setObjectName("modelLabel")
        self.notice = QLabel(NOTICE)
        self.notice.setObjectName("notice")
        self.notice.setToolTip(DISCLAIMER)
        self.audit_warning = QLabel("Audit log not written")
        self.audit_warning.setObjectName("warnings")
        self.audit_warning.hide()
        status.addPermanentWidget(self.audit_warning)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.notice)

    @staticmethod
    def _scrolling(widget: QWidget, min_width: int) -> QScrollArea:
        """A side panel that scrolls when the window is short (a 1280×800 screen) instead of clipping."""
        scroll = QScrollArea()
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(min_width)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        return scroll

    def _fit_to_screen(self, width: int, height: int) -> None:
        """The preferred size, shrunk to the screen's free area (task bars left out)."""
        screen = self.screen()
        if screen is not None:
            free = screen.availableGeometry()
            width, height = min(width, free.width()), min(height, free.height())
        self.resize(width, height)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    # --- model -----------------------------------------------------------------------------------
    def reload_model(self) -> None:
        self._set_model_label("Loading model…")
        self.classifier = None
        self.model_info = None
        self._model_worker = start_worker(
            jobs.load_model, self.model_path, self.settings.device,
            on_yield=self._model_loaded, on_error=self._model_failed, name="load_model",
        )

    def _model_loaded(self, classifier: Any) -> None:
        from app.core.model.identity import ModelInfo

        self.classifier = classifier
        self.model_info = ModelInfo.from_classifier(classifier)
        self.audit.model_info = self.model_info
        card = classifier.card
        self._set_model_label(f"Model: {card.name} {card.version} · {classifier.device}")
        note = getattr(classifier, "device_note", None)
        if note:
            self.statusBar().showMessage(note, 8000)
        self.results.set_classes(card.class_names, class_display_names(card))
        self.model_ready.emit()
        if self.view.scans and len(self.view.predictions) < len(self.view.scans):
            self._start_classification()
        else:
            self.view.render()

    def _model_failed(self, error: BaseException) -> None:
        self._set_model_label("No model loaded")
        self._show_error("The model could not be loaded", error)
        if not self.view.scans:
            self.page.show_hint(f"No model loaded: {user_message(error)}\nScans can still be viewed.")

    def _set_model_label(self, text: str) -> None:
        self.model_label.setText(text)

    def shown_model_info(self) -> Any:
        """The model's identity under the user's low-confidence threshold: what reports and the audit
        log get, so they flag what the screen flags (None while no model is loaded)."""
        if self.model_info is None:
            return None
        return self.model_info.with_threshold(self.settings.low_confidence_threshold)

    # --- opening ---------------------------------------------------------------------------------
    def open_paths(self, paths: list[Path]) -> None:
        """A file opens in the viewer; a folder holding one series (or one image) too; more → batch."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        self._opened_at = time.perf_counter()
        self.timings = {}
        self._remember(paths[0])
        self._inspect_worker = None
        if len(paths) == 1 and paths[0].is_file():
            self._load_into_viewer(jobs.opening_target(paths[0]))
            return
        self.statusBar().showMessage("Looking for scans…")
        worker = GeneratorWorker(jobs.inspect_paths, paths, name="inspect")
        connect_current(worker, lambda: self._inspect_worker, on_yield=lambda sources: self._sources_found(paths, sources))
        worker.signals.errored.connect(lambda e: self._show_error("Nothing could be opened", e))
        self._inspect_worker = worker.start()

    def _sources_found(self, paths: list[Path], sources: list[Any]) -> None:
        if not sources:
            self._show_error("Nothing to open", BrainLensError(
                "No images or DICOM files were found there. BrainLens opens DICOM, JPG, PNG and TIFF."))
        elif len(sources) == 1:
            self._load_into_viewer(sources[0])
        else:
            self.start_batch(paths)

    def _load_into_viewer(self, target: Any, *, frame: int | None = None, slice_index: int | None = None) -> None:
        self._stop_viewer_workers()
        # the file the user opened, when it is opened with its series (to start on it)
        self._load_target_path = Path(target.path) if isinstance(target, jobs.SeriesOf) else None
        self.statusBar().showMessage("Loading…")
        self.results.show_message("Loading…")
        worker = GeneratorWorker(jobs.load_target, target, name="load")
        connect_current(worker, lambda: self._load_worker,
                        on_yield=lambda result: self._scans_loaded(result, frame, slice_index),
                        on_error=lambda e: self._open_failed(target, e))
        self._load_worker = worker.start()

    def _open_failed(self, target: Any, error: BaseException) -> None:
        """The previous patient leaves the screen (both panes, the result, the information panel), and
        the message names the file that failed."""
        self._stop_viewer_workers()
        self.view.clear()
        self.metadata.show_scan(None)
        self.results.show_message("No scan")
        self.setWindowTitle("BrainLens")
        name = jobs.target_name(target)
        self._show_error(f"{name} could not be opened", error)
        self.page.show_hint(f"{name} could not be opened: {user_message(error)}")

    def _scans_loaded(self, result: tuple[list[Any], list[Any]], frame: int | None, slice_index: int | None) -> None:
        scans, failures = result
        if self._opened_at is not None:
            self.timings["loaded_s"] = time.perf_counter() - self._opened_at
        start = len(scans) // 2 if len(scans) > 2 else 0
        for i, scan in enumerate(scans):
            if (frame is not None and scan.frame == frame) or (slice_index is not None and scan.slice_index == slice_index):
                start = i
        first = scans[0]
        self.export_target = "viewer"
        if isinstance(self._load_target_path, Path) and len(scans) > 1 and frame is None and slice_index is None:
            wanted = self._load_target_path.resolve()
            start = next((i for i, s in enumerate(scans) if Path(s.source).resolve() == wanted), start)
        self.setWindowTitle(f"BrainLens — {first.source.name if len(scans) == 1 else first.source.parent.name}")
        self.view.set_scans(scans, start)
        self._volume_opened(scans)
        message = f"Opened {len(scans)} scans" if len(scans) > 1 else f"Opened {first.label}"
        if isinstance(self._load_target_path, Path) and len(scans) > 1:
            message = f"Opened the whole series of {self._load_target_path.name} ({len(scans)} slices)"
        if failures:
            message += f"; {len(failures)} file(s) skipped: {failures[0].reason}"
        self.statusBar().showMessage(message, 10000)
        self.scan_shown.emit()
        if self.classifier is not None:
            self._start_classification()
        elif self._model_worker is None or self._model_worker.is_done:
            self.results.show_message("Not classified", "No model is loaded (File ▸ Load model…).")

    # --- classification of the scans in the viewer ----------------------------------------------
    def _start_classification(self) -> None:
        if self._classify_worker is not None:
            self._classify_worker.quit()
        view = self.view
        if all(i in view.predictions for i in range(len(view.scans))):
            return
        queue = jobs.SliceQueue(len(view.scans), view.index)
        self._slice_queue = queue
        self.results.show_message("Classifying…")
        scans, classifier = list(view.scans), self.classifier
        worker = GeneratorWorker(jobs.classify_scans, classifier, scans, queue, audit=self.audit,
                                 model_info=self.shown_model_info(), name="classify")
        connect_current(worker, lambda: self._classify_worker, on_yield=self._prediction_ready)
        worker.signals.errored.connect(lambda e: self._show_error("The scan could not be classified", e))
        self._classify_worker = worker.start()

    def is_classifying(self) -> bool:
        """Whether the scans in the viewer are still being classified."""
        return self._classify_worker is not None and not self._classify_worker.is_done

    def _prediction_ready(self, pair: tuple[int, Any]) -> None:
        index, prediction = pair
        self._volume_prediction(index, prediction)
        if self.view.add_prediction(index, prediction):
            if "first_result_s" not in self.timings and self._opened_at is not None:
                self.timings["first_result_s"] = time.perf_counter() - self._opened_at
                self.statusBar().showMessage(f"First result in {self.timings['first_result_s']:.2f} s", 8000)
            self.prediction_shown.emit()

    def _slice_shown(self, index: int) -> None:
        if self._slice_queue is not None:
            self._slice_queue.prefer(index)  # classify around the slice the user is looking at

    def _identifiers_toggled(self, hidden: bool) -> None:
        self.batch.model.set_hide_patients(hidden)
        self.view.render()  # the on-image annotations follow the same choice
        self.settings.hide_identifiers = hidden
        save_settings(self.store, self.settings)

    def _metadata_visibility(self, visible: bool) -> None:
        if not self.isVisible():
            return  # hiding with the window is not a choice
        self.settings.show_metadata = visible
        save_settings(self.store, self.settings)

    # --- events ----------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        step = slice_step(event.key(), event.modifiers())
        if step is not None and len(self.view.scans) > 1:
            self.view.show_slice(self.view.index + step)
            event.accept()
            return
        super().keyPressEvent(event)

    def _stop_viewer_workers(self) -> None:
        for worker in (self._load_worker, self._classify_worker):
            if worker is not None:
                worker.quit()
        self._classify_worker = None
        self._slice_queue = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_batch()
        self._stop_viewer_workers()
        if not await_workers(timeout_s=15.0):
            log.warning("some background work did not stop in time")
        save_settings(self.store, self.settings)
        super().closeEvent(event)
