"""What the viewer shows: the open scans, their predictions, the slice on screen, the user's window.

``ScanDisplay`` keeps that state and draws it into the viewer page, the results panel and the
metadata panel. Pixels are only transformed by core functions: ``windowing.apply_window`` for the
user's window/level, ``Prediction.heatmap`` and ``gradcam.overlay`` for the Grad-CAM pane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.model import gradcam
from app.core.model.verdict import class_display_names, is_calibrated, top_slice
from app.core.scans import windowing
from app.ui.annotations import corner_texts
from app.ui.metadata_panel import MetadataPanel
from app.ui.results_panel import ResultsPanel, percent
from app.ui.viewer_page import ViewerPage

FILE_WINDOW = "File window (as classified)"
CUSTOM_WINDOW = "Custom"
OVERLAY_HINT = "The Grad-CAM heatmap appears here once the scan is classified."
NOT_ASSESSED_HINT = ("Not assessed: no heatmap is drawn.\nChoose a class under “Heatmap of” to see "
                     "that class's map anyway.")


class ScanDisplay(QObject):
    """``slice_shown(index)`` fires when the user moves to another slice."""

    slice_shown = Signal(int)

    def __init__(self, page: ViewerPage, results: ResultsPanel, metadata: MetadataPanel,
                 context: Callable[[], tuple[Any, float | None]], parent: QObject | None = None) -> None:
        """``context()`` returns (the classifier or None, the user's low-confidence threshold)."""
        super().__init__(parent)
        self.page, self.viewer, self.results, self.metadata = page, page.viewer, results, metadata
        self._context = context
        self.scans: list[Any] = []
        self.predictions: dict[int, Any] = {}
        self.index = 0
        self.window: tuple[float, float] | None = None  # user's window; None = the file's (what the model saw)
        self._drag_start: tuple[float, float] | None = None
        self._heatmaps: dict[tuple[int, int | None], np.ndarray] = {}
        self.shown_overlay: np.ndarray | None = None  # the Grad-CAM overlay on screen (for exports)
        page.slice_bar.slice_changed.connect(self.show_slice)
        page.slice_bar.jump_requested.connect(self.jump_to_summary)
        page.preset_chosen.connect(self._preset_chosen)
        page.reset_button.clicked.connect(self.reset_view)
        self.viewer.window_drag_started.connect(self._window_drag_started)
        self.viewer.window_dragged.connect(self._window_dragged)
        self.viewer.slice_scrolled.connect(lambda step: self.show_slice(self.index + step))
        page.ruler_button.toggled.connect(self.viewer.set_ruler)
        results.class_selected.connect(lambda _index: self.render())
        results.heatmap.overlay_toggled.connect(self.viewer.set_overlay_visible)
        results.heatmap.opacity_changed.connect(lambda _v: self.render())
        results.heatmap.colormap_changed.connect(lambda _v: self.render())

    # --- content ---------------------------------------------------------------------------------
    def set_scans(self, scans: list[Any], start: int) -> None:
        self.scans, self.predictions, self._heatmaps, self.window = list(scans), {}, {}, None
        self.index = min(max(start, 0), max(len(self.scans) - 1, 0))
        # a new patient opens on the predicted class's map, whatever the last one was looked at with
        self.results.class_combo.blockSignals(True)
        self.results.select_class(None)
        self.results.class_combo.blockSignals(False)
        self.viewer.scan_pane.clear_measurement()
        self.viewer.overlay_pane.clear_measurement()
        self.viewer.set_scroll_slices(len(self.scans) > 1)
        self.page.show_viewer()
        self.page.slice_bar.set_count(len(self.scans), self.index)
        self.page.slice_bar.summary.setText("")
        self.page.slice_bar.jump.setEnabled(False)
        self._fill_presets()
        self.viewer.reset_view()
        self.render()
        self.viewer.reset_view()

    def clear(self) -> None:
        """Nothing on screen: the scans, their results and both panes go (a failed open)."""
        self.scans, self.predictions, self._heatmaps, self.window = [], {}, {}, None
        self.index = 0
        self.shown_overlay = None
        self.viewer.set_images(None, None)
        self.page.slice_bar.set_count(0, 0)

    def add_prediction(self, index: int, prediction: Any) -> bool:
        """Stores a result; True when it is the slice on screen (and so was drawn)."""
        self.predictions[index] = prediction
        shown = index == self.index
        if shown:
            self.render()
        self._update_summary()
        return shown

    def current_scan(self) -> Any | None:
        return self.scans[self.index] if self.scans else None

    def colormap(self) -> str:
        return self.results.heatmap.colormap.currentText() or gradcam.DEFAULT_COLORMAP

    def opacity(self) -> float:
        return self.results.heatmap.opacity.value() / 100.0

    def show_slice(self, index: int) -> None:
        if not self.scans:
            return
        index = min(max(int(index), 0), len(self.scans) - 1)
        if index != self.page.slice_bar.slider.value():
            self.page.slice_bar.slider.setValue(index)  # comes back here through slice_changed
            return
        self.index = index
        self.render()
        self.slice_shown.emit(index)

    def jump_to_summary(self) -> None:
        best = top_slice(self.predictions)
        if best is not None:
            self.show_slice(best[0])

    def _update_summary(self) -> None:
        bar = self.page.slice_bar
        if len(self.scans) < 2:
            return
        done = len(self.predictions)
        best = top_slice(self.predictions)
        progress = "" if done == len(self.scans) else f"classified {done}/{len(self.scans)} · "
        if best is None:
            bar.summary.setText(progress.rstrip(" ·"))
            return
        index, p_tumour = best
        bar.summary.setText(f"{progress}highest P(tumour): slice {index + 1} ({percent(p_tumour)})")
        bar.jump.setEnabled(True)

    # --- drawing ---------------------------------------------------------------------------------
    def _base_image(self, scan: Any) -> np.ndarray:
        if self.window is not None and scan.pixels.ndim == 2:
            return windowing.apply_window(scan.pixels, *self.window)
        return scan.display

    def _heatmap(self, index: int, class_index: int | None) -> np.ndarray:
        key = (index, class_index)
        if key not in self._heatmaps:
            self._heatmaps[key] = self.predictions[index].heatmap(class_index)
        return self._heatmaps[key]

    def render(self) -> None:
        scan = self.current_scan()
        if scan is None:
            return
        classifier, threshold = self._context()
        base = self._base_image(scan)
        prediction = self.predictions.get(self.index)
        class_index = self.results.selected_class()
        overlay = None
        hidden_map = prediction is not None and not getattr(prediction, "assessed", True) and class_index is None
        self.viewer.overlay_pane.set_hint(NOT_ASSESSED_HINT if hidden_map else OVERLAY_HINT)
        if prediction is not None and not hidden_map:
            heatmap = self._heatmap(self.index, class_index)
            heat = heatmap if heatmap.shape == base.shape[:2] else gradcam.upsample_cam(heatmap, base.shape[:2])
            overlay = gradcam.overlay(base, heat, self.opacity(), self.colormap())
        self.shown_overlay = overlay
        self.viewer.set_images(base, overlay)
        scan_pane, overlay_pane = self.viewer.panes()
        window = self.window or scan.window
        texts = corner_texts(scan, self.index, len(self.scans), window,
                             hide_identifiers=self.metadata.hide_identifiers.isChecked())
        for corner, text in texts.items():
            scan_pane.set_corner_text(corner, text)
        spacing = getattr(getattr(scan, "metadata", None), "pixel_spacing", None)
        scan_pane.set_pixel_spacing(spacing)
        overlay_pane.set_pixel_spacing(spacing)
        overlay_pane.set_colour_bar(gradcam.colorize(np.linspace(0, 1, 64, dtype=np.float32)[None, :],
                                                     self.colormap())[0] if overlay is not None else None)
        if prediction is not None and classifier is not None:
            card = classifier.card
            shown = prediction.predicted_index if class_index is None else class_index
            name = class_display_names(card)[card.class_names[shown]]
            if not getattr(prediction, "assessed", True):  # name no class the user did not ask for
                caption = "Grad-CAM (scan not assessed)" if class_index is None else f"Grad-CAM: {name} (scan not assessed)"
            elif shown == prediction.predicted_index:
                caption = f"Grad-CAM: {name} (predicted)"
            else:
                caption = f"Grad-CAM: {name} ({percent(prediction.probabilities[shown])})"
            overlay_pane.set_corner_text("top_left", caption)
            self.results.show_prediction(prediction, class_display_names(card), threshold,
                                         calibrated=is_calibrated(card))
        elif classifier is not None:
            self.results.show_message("Classifying…")
        self.page.slice_bar.label.setText(f"Slice {self.index + 1} / {len(self.scans)}")
        if self.metadata.shown_scan() is not scan:
            self.metadata.show_scan(scan)

    def reset_view(self) -> None:
        self.window = None
        self.page.presets.setCurrentIndex(0)
        self.render()
        self.viewer.reset_view()

    # --- window / level --------------------------------------------------------------------------
    def _fill_presets(self) -> None:
        scan = self.current_scan()
        grey = scan is not None and scan.pixels.ndim == 2
        self.page.set_presets([FILE_WINDOW] + [p.name for p in self._presets()], grey)

    def _presets(self) -> tuple[Any, ...]:
        scan = self.current_scan()
        modality = getattr(getattr(scan, "metadata", None), "modality", None)
        return windowing.CT_PRESETS + windowing.MR_PRESETS if modality == "CT" else windowing.MR_PRESETS

    def _preset_chosen(self, position: int) -> None:
        scan = self.current_scan()
        if scan is None or scan.pixels.ndim != 2 or position > len(self._presets()):
            return  # "Custom" is the user's own window: choosing it again changes nothing
        self.window = None if position <= 0 else self._presets()[position - 1].window_for(scan.pixels)
        self.render()

    def _window_drag_started(self) -> None:
        scan = self.current_scan()
        if scan is None or scan.pixels.ndim != 2:
            self._drag_start = None
            return
        self._drag_start = self.window or scan.window or windowing.full_range_window(scan.pixels)

    def _window_dragged(self, dx: float, dy: float) -> None:
        if self._drag_start is None:
            return
        centre, width = self._drag_start
        step = max(width, 1.0) / 256.0  # a drag across ~256 px changes the window by its own width
        self.window = (centre - dy * step, max(1.0, width + dx * step))
        self.page.show_custom_window(f"{CUSTOM_WINDOW} (W {self.window[1]:.0f}  L {self.window[0]:.0f})",
                                     len(self._presets()) + 1)
        self.render()
