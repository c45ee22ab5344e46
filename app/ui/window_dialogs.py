"""The main window's dialogs: open file/folder/model, settings, about, and error messages."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.core.errors import BrainLensError
from app.core.model import gradcam
from app.core.model.card import DISCLAIMER
from app.ui.about import AboutModelDialog
from app.ui.settings import SettingsDialog, UiSettings, save_settings

log = logging.getLogger(__name__)
FILE_FILTER = "Scans (*.dcm *.dicom *.ima *.jpg *.jpeg *.png *.tif *.tiff *.bmp *.nii *.nii.gz *.mgz *.mgh);;All files (*)"


def user_message(error: BaseException) -> str:
    """What the user reads: the core's own sentence, or a short generic one (details go to the log)."""
    if isinstance(error, BrainLensError):
        return str(error)
    return f"Something went wrong ({type(error).__name__}: {error}). The details are in the log."


class DialogsMixin:
    """The dialogs ``MainWindow`` opens, and how it tells the user that something failed."""

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a BrainLens model", "", "ONNX models (*.onnx)")
        if path:
            self.model_path = Path(path)
            self.reload_model()

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a scan", self._last_folder(), FILE_FILTER)
        if path:
            self.open_paths([Path(path)])

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of scans or a DICOM series", self._last_folder())
        if path:
            self.open_paths([Path(path)])

    def _last_folder(self) -> str:
        if self.settings.recent_files:
            last = Path(self.settings.recent_files[0])
            return str(last if last.is_dir() else last.parent)
        return ""

    def open_settings(self) -> SettingsDialog:
        card = self.classifier.card if self.classifier is not None else None
        dialog = SettingsDialog(self.settings, card.low_confidence_threshold if card else None, self)
        dialog.accepted.connect(lambda: self._apply_settings(dialog.result_settings()))
        dialog.open()
        return dialog

    def _apply_settings(self, new: UiSettings) -> None:
        device_changed = new.device != self.settings.device
        threshold_changed = new.low_confidence_threshold != self.settings.low_confidence_threshold
        self.settings = new
        save_settings(self.store, new)
        self.results.heatmap.set_colormaps(list(gradcam.COLORMAPS), new.colormap)
        self.results.heatmap.set_opacity(new.opacity)
        self.view.render()
        if threshold_changed:
            self.refresh_batch_rows()
        if device_changed:
            self.reload_model()

    def show_about_model(self) -> AboutModelDialog | None:
        if self.classifier is None:
            self._show_error("No model", BrainLensError("No model is loaded yet."))
            return None
        dialog = AboutModelDialog(self.classifier, self)
        dialog.open()
        return dialog

    def show_dicom_tags(self):
        """The tag browser of the slice on screen (identifiers hidden when the information panel hides them)."""
        from app.ui.tag_browser import TagBrowser

        scan = self.view.current_scan()
        if scan is None or getattr(scan.metadata, "is_empty", True):
            self._show_error("No DICOM tags", BrainLensError("Open a DICOM scan first: plain images have no tags."),
                             in_panel=False)
            return None
        try:
            dialog = TagBrowser(Path(scan.source), hide_identifiers=self.metadata.hide_identifiers.isChecked(),
                                parent=self)
        except BrainLensError as error:
            self._show_error("No DICOM tags", error, in_panel=False)
            return None
        dialog.open()
        return dialog

    def _about_app(self) -> None:
        QMessageBox.about(self, "About BrainLens",
                          "<b>BrainLens</b><br>Brain MRI classification with Grad-CAM, on your own machine."
                          f"<p>{DISCLAIMER}</p>")

    def _show_error(self, title: str, error: BaseException, *, in_panel: bool = True) -> None:
        """Dialog + status bar; ``in_panel`` also replaces the hint or result panel (not for exports)."""
        if not isinstance(error, BrainLensError):
            log.error("%s", title, exc_info=(type(error), error, error.__traceback__))
        message = user_message(error)
        self.statusBar().showMessage(f"{title}: {message}", 15000)
        if in_panel and not self.view.scans:
            self.page.show_hint(message)
        elif in_panel:
            self.results.show_message(title, message)
        QMessageBox.warning(self, title, message)

    def _audit_failed(self, message: str) -> None:
        """Told once (the trail emits once): a status message, and a lasting mark with the reason."""
        self.audit_warning.setToolTip(message)
        self.audit_warning.show()
        self.statusBar().showMessage(message, 30000)
