"""The main window's menus and actions: File, View, Tools and Help, and the recent-files list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence

from app.ui import window_pacs
from app.ui.settings import save_settings


class MenusMixin:
    """Builds the menu bar of ``MainWindow`` and keeps its actions' text and enabled state current."""

    def _action(self, menu, text: str, slot, shortcut: str | QKeySequence | None = None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "Open file…", self.open_file_dialog, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self._action(file_menu, "Open from PACS…", lambda: window_pacs.open_from_pacs(self))
        self.recent_menu = file_menu.addMenu("Open recent")
        file_menu.addSeparator()
        self._action(file_menu, "Load model…", self.open_model_dialog)
        self.report_action = self._action(file_menu, "Export report…", self.exporter.export_report, "Ctrl+E")
        self.report_action.setToolTip("A PDF of the scan, the series or (when the batch table shows) the batch")
        self.batch_report_action = self._action(file_menu, "Export batch report (PDF)…",
                                                self.exporter.export_batch_report)
        self.export_action = self._action(file_menu, "Export batch results as CSV…", self.export_batch_csv)
        self.dicom_heatmap_action = self._action(file_menu, "Save heatmap as DICOM…",
                                                 self.exporter.save_heatmap_dicom)
        self.dicom_report_action = self._action(file_menu, "Save report as DICOM (Encapsulated PDF)…",
                                                self.exporter.save_report_dicom)
        self.pacs_send_action = self._action(file_menu, "Send results to PACS…", lambda: window_pacs.send_results(self))
        file_menu.aboutToShow.connect(self._update_export_actions)
        for signal in (self.scan_shown, self.prediction_shown, self.batch_finished, self.view.slice_shown,
                       self.batch_dock.visibilityChanged):
            signal.connect(self._update_export_actions)
        self._update_export_actions()
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)

        view = bar.addMenu("&View")
        self._action(view, "Reset view", lambda: self.view.reset_view(), "Ctrl+0")
        self._action(view, "Zoom in", lambda: self.viewer.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self._action(view, "Zoom out", lambda: self.viewer.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self.tags_action = self._action(view, "DICOM tags…", self.show_dicom_tags, "Ctrl+T")
        view.addSeparator()
        for dock, shortcut in ((self.metadata_dock, "Ctrl+I"), (self.results_dock, None), (self.batch_dock, None)):
            action = dock.toggleViewAction()
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            view.addAction(action)

        tools = bar.addMenu("&Tools")
        self._action(tools, "Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        self._action(tools, "PACS nodes…", lambda: window_pacs.edit_nodes(self))

        help_menu = bar.addMenu("&Help")
        self.about_model_action = self._action(help_menu, "About the model…", self.show_about_model)
        self._action(help_menu, "About BrainLens…", self._about_app)

    def _update_export_actions(self, *_args: Any) -> None:
        self.report_action.setText(f"Export {self.exporter.report_kind()} report…")
        dicom = self.exporter.can_save_dicom()
        self.dicom_heatmap_action.setEnabled(dicom)
        self.dicom_report_action.setEnabled(dicom)
        self.pacs_send_action.setEnabled(dicom)
        batch_done = bool(self.batch.model.items) and self._batch_worker is None
        self.batch_report_action.setEnabled(batch_done)
        self.export_action.setEnabled(batch_done)

    def _remember(self, path: Path) -> None:
        self.settings = self.settings.with_recent(path.resolve())
        save_settings(self.store, self.settings)
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for text in self.settings.recent_files:
            action = self.recent_menu.addAction(text)
            action.triggered.connect(lambda _checked=False, p=text: self.open_paths([Path(p)]))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))
