"""The main window's PACS actions: File ▸ Open from PACS…, File ▸ Send results to PACS…, Tools ▸ PACS nodes….

Functions of the window (called from ``window_menus``) so the window class itself does not grow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.errors import BrainLensError


def open_from_pacs(window: Any) -> Any:
    """Shows the query dialog; a retrieved series opens in the viewer as if it had been dropped."""
    from app.ui.pacs_query_dialog import PacsQueryDialog

    dialog = PacsQueryDialog(window)

    def opened(folder: Path, summary: str) -> None:
        window.statusBar().showMessage(f"From PACS: {summary}", 15000)
        dialog.accept()
        window.open_paths([Path(folder)])

    dialog.series_retrieved.connect(opened)
    dialog.open()
    return dialog


def send_results(window: Any) -> Any:
    """Shows the send dialog for the scan or series on screen (DICOM only, every slice classified)."""
    from app.ui.pacs_send_dialog import PacsSendDialog

    exporter = window.exporter
    try:
        info = exporter._model_info()
        scans, predictions = exporter._viewer_content()
        if not exporter.can_save_dicom():
            raise BrainLensError("Only results of a DICOM scan can be sent to a PACS (they join the scan's study).")
    except BrainLensError as error:
        window._show_error("Nothing to send", error, in_panel=False)
        return None
    view = window.view
    index = view.index if len(scans) > 1 else 0
    dialog = PacsSendDialog(window, scans, predictions, info, index=index, overlay_rgb=view.shown_overlay,
                            colormap=view.colormap(), opacity=view.opacity())
    dialog.open()
    return dialog


def edit_nodes(window: Any) -> Any:
    from app.ui.pacs_nodes_dialog import PacsNodesDialog

    dialog = PacsNodesDialog(window)
    dialog.open()
    return dialog
