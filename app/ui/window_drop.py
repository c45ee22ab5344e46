"""Drag-and-drop onto the main window: local files and folders open as if chosen in File ▸ Open."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer


class DropMixin:
    """Accepts drops of local files on ``MainWindow`` and lights up the drop hint while dragging."""

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
            self.page.hint.set_drag_active(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self.page.hint.set_drag_active(False)
        super().dragLeaveEvent(event)

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        self.page.hint.set_drag_active(False)
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))  # let the drag source return first
