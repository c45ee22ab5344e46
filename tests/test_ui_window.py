"""The main window end to end on real MRI (MNI template slices, a DICOM series) and the tiny model."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from app.core.model.verdict import class_display_names  # noqa: E402
from app.ui.results_panel import percent  # noqa: E402
from tests.ui_fixtures import dialogs, no_dangling_workers, settings_store, tiny_model, window  # noqa: E402

TIMEOUT = 20000


def wait_classified(qtbot, win, count: int | None = None) -> None:
    qtbot.waitUntil(lambda: bool(win.view.scans) and len(win.view.predictions) == (count or len(win.view.scans)), timeout=TIMEOUT)


def drop(win, paths: list[Path]) -> None:
    """A real QDropEvent, as the window would get it from the file manager."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    position = QPointF(win.rect().center())
    event = QDropEvent(position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)
    assert event.isAccepted()


def test_empty_window_shows_drop_hint_notice_and_model(window):
    assert window.page.currentIndex() == 0
    assert "Research use only" in window.notice.text()
    assert window.notice.isVisible()
    assert "tiny-test" in window.model_label.text() and "CPU" in window.model_label.text()


def test_open_jpg_shows_scan_heatmap_and_class(qtbot, window, mni_jpg):
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_jpg])
    scan_pane, overlay_pane = window.viewer.panes()
    assert scan_pane.has_image() and overlay_pane.has_image()
    prediction = window.view.predictions[0]
    words = class_display_names(window.classifier.card)
    assert window.results.title.text() == words[prediction.predicted_class] or "Not assessed" in window.results.title.text()
    assert percent(prediction.confidence) in window.results.subtitle.text()
    assert "uncalibrated" in window.results.subtitle.text()  # the tiny card records no fitted temperature
    assert window.results.bar_values() == [round(float(p) * 1000) for p in prediction.probabilities]
    assert "P(tumour)" in window.results.p_tumour.text()
    assert not window.page.slice_bar.isVisible()  # one image: no slice bar
    assert window.timings["first_result_s"] > 0  # measured (and shown); never asserted as seconds


def test_drop_series_folder_classifies_every_slice_and_jumps(qtbot, window, mni_series_dir):
    drop(window, [mni_series_dir])
    wait_classified(qtbot, window)
    assert len(window.view.scans) == 20
    assert window.page.slice_bar.isVisible()
    assert window.view.index == 10  # starts in the middle of the series
    best = max(window.view.predictions, key=lambda i: window.view.predictions[i].p_tumour)
    assert f"slice {best + 1}" in window.page.slice_bar.summary.text()
    window.page.slice_bar.jump.click()
    assert window.view.index == best
    assert window.page.slice_bar.label.text() == f"Slice {best + 1} / 20"


def test_arrow_keys_and_slider_change_slice(qtbot, window, mni_series_dir):
    window.open_paths([mni_series_dir])
    qtbot.waitUntil(lambda: len(window.view.scans) == 20, timeout=TIMEOUT)
    start = window.view.index
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.view.index == start + 1
    qtbot.keyClick(window, Qt.Key.Key_Up)
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert window.view.index == start - 1
    window.page.slice_bar.slider.setValue(0)
    assert window.view.index == 0
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.view.index == 0  # clamped
    assert window.metadata.value_of("File").startswith(window.view.scans[0].source.name)
    wait_classified(qtbot, window)


def test_class_selector_shows_that_class_map(qtbot, window, mni_png):
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_png])
    prediction = window.view.predictions[0]
    other = (prediction.predicted_index + 1) % len(prediction.class_names)
    overlays = {}
    for choice in (None, other):
        window.results.select_class(choice)
        overlays[choice] = window.viewer.overlay_pane.image()
        caption = window.viewer.overlay_pane.corner_text("top_left")
        expected = class_display_names(window.classifier.card)[
            prediction.class_names[prediction.predicted_index if choice is None else other]]
        assert f"Grad-CAM: {expected} (" in caption
    assert overlays[None] != overlays[other]


def test_window_level_drag_rewindows_and_reset_restores(qtbot, window, mni_series_dir):
    window.open_paths([mni_series_dir])
    qtbot.waitUntil(lambda: len(window.view.scans) == 20, timeout=TIMEOUT)
    scan = window.view.current_scan()
    original = scan.window
    pane = window.viewer.scan_pane
    centre = pane.viewport().rect().center()
    qtbot.mousePress(pane.viewport(), Qt.MouseButton.RightButton, pos=centre)
    qtbot.mouseMove(pane.viewport(), centre + QPoint(-60, 40))
    qtbot.mouseRelease(pane.viewport(), Qt.MouseButton.RightButton, pos=centre + QPoint(-60, 40))
    assert window.view.window is not None and window.view.window != original
    assert window.view.window[1] < original[1]  # dragging left narrows the window
    assert "W " in pane.corner_text("bottom_left")
    window.page.presets.setCurrentIndex(1)
    window.page.preset_chosen.emit(1)
    assert window.view.window is not None
    window.view.reset_view()
    assert window.view.window is None
    wait_classified(qtbot, window)


def test_wheel_zoom_keeps_panes_in_sync(qtbot, window, mni_png):
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_png])
    left, right = window.viewer.panes()
    before = left.zoom
    left.zoom_by(2.0)
    assert left.zoom == pytest.approx(before * 2.0)
    assert right.zoom == pytest.approx(left.zoom)
    window.view.reset_view()
    assert left.zoom == pytest.approx(before, rel=0.05)


def test_broken_file_shows_a_dialog_not_a_crash(qtbot, window, dialogs, tmp_path):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00")
    window.open_paths([broken])
    qtbot.waitUntil(lambda: len(dialogs) > 0, timeout=TIMEOUT)
    title, text = dialogs[0]
    assert "could not be opened" in title
    assert text and "Traceback" not in text
    assert window.page.currentIndex() == 0  # still the drop page, with the message inline
    assert window.page.hint.message.isVisible()


def test_batch_fills_table_sorts_and_exports_csv(qtbot, window, dialogs, mni_png, mni_jpg, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(3):
        shutil.copy(mni_png, folder / f"scan{i}.png")
    shutil.copy(mni_jpg, folder / "scan3.jpg")
    (folder / "notes.png").write_bytes(b"not an image")
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        drop(window, [folder])
    model = window.batch.model
    assert model.rowCount() == 5
    assert window.batch_dock.isVisible()
    assert sum(1 for r in model.rows if not r.ok) == 1
    assert "Done" in window.batch.status.text()
    window.batch.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    proxy = window.batch.proxy
    shown = [proxy.data(proxy.index(r, 3), Qt.ItemDataRole.UserRole + 1) for r in range(proxy.rowCount())]
    assert shown == sorted(shown, reverse=True)
    out = tmp_path / "results.csv"
    window.write_batch_csv(out)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    # clicking a row opens that scan in the viewer
    with qtbot.waitSignal(window.scan_shown, timeout=TIMEOUT):
        window.batch.table.clicked.emit(proxy.index(0, 0))
    wait_classified(qtbot, window)


def _start_long_batch(qtbot, window, mni_png, tmp_path) -> None:
    """A batch of 120 copies of the PNG, started and with its first row in the table."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(120):
        shutil.copy(mni_png, folder / f"scan{i:03d}.png")
    window.start_batch([folder])
    qtbot.waitUntil(lambda: window.batch.model.rowCount() >= 1, timeout=TIMEOUT)


def test_cancel_batch_stops_early_and_cleanly(qtbot, window, mni_png, tmp_path):
    _start_long_batch(qtbot, window, mni_png, tmp_path)
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.batch.cancel_button.click()
    assert window.batch.model.rowCount() < 120
    assert "Cancelled" in window.batch.status.text()


def test_closing_mid_batch_is_clean(qtbot, window, mni_png, tmp_path):
    _start_long_batch(qtbot, window, mni_png, tmp_path)
    window.close()
    from app.ui.workers import running_workers

    assert not running_workers()


def test_settings_dialog_persists_between_runs(qtbot, window, settings_store, tiny_model):
    dialog = window.open_settings()
    dialog.colormap.setCurrentText("viridis")
    dialog.opacity.setValue(65)
    dialog.use_card_threshold.setChecked(False)
    dialog.threshold.setValue(0.8)
    dialog.accept()
    assert window.results.heatmap.colormap.currentText() == "viridis"
    assert window.results.heatmap.opacity.value() == 65

    from app.ui.main_window import MainWindow

    again = MainWindow(settings_store=settings_store, model_path=tiny_model, load_model=False)
    qtbot.addWidget(again)
    assert again.settings.colormap == "viridis"
    assert again.settings.opacity == pytest.approx(0.65)
    assert again.settings.low_confidence_threshold == pytest.approx(0.8)


def test_recent_files_menu_remembers_opened_scans(qtbot, window, mni_png):
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_png])
    actions = window.recent_menu.actions()
    assert actions and actions[0].text() == str(mni_png.resolve())


def test_about_model_shows_the_card(window):
    dialog = window.show_about_model()
    text = dialog.browser.toPlainText()
    assert "tiny-test" in text and "glioma" in text
    assert "Research use only" in text
    dialog.close()


def test_metadata_panel_hides_identifiers(qtbot, window, mni_series_dir):
    window.open_paths([mni_series_dir])
    qtbot.waitUntil(lambda: len(window.view.scans) == 20, timeout=TIMEOUT)
    assert window.metadata.value_of("Name") == "Doe^Jane"
    window.metadata.hide_identifiers.setChecked(True)
    assert window.metadata.value_of("Name") == "—"
    assert window.metadata.value_of("Description") is not None
    window.metadata_dock.hide()
    assert window.settings.show_metadata is False
    wait_classified(qtbot, window)


def test_missing_model_still_shows_scans(qtbot, settings_store, dialogs, mni_png, tmp_path):
    from app.ui.main_window import MainWindow

    win = MainWindow(settings_store=settings_store, model_path=tmp_path / "absent.onnx", load_model=True)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: len(dialogs) > 0, timeout=TIMEOUT)
    assert "model" in dialogs[0][0].lower()
    assert win.model_label.text() == "No model loaded"
    with qtbot.waitSignal(win.scan_shown, timeout=TIMEOUT):
        win.open_paths([mni_png])
    assert win.viewer.scan_pane.has_image()
    assert not win.viewer.overlay_pane.has_image()
    assert np.asarray(win.view.scans[0].display).dtype == np.uint8


def test_panning_one_pane_pans_the_other(qtbot, window, mni_png):
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_png])
    left, right = window.viewer.panes()
    left.zoom_by(4.0)
    bar = left.horizontalScrollBar()
    bar.setValue(bar.minimum())
    assert right.scene_centre().x() == pytest.approx(left.scene_centre().x(), abs=1.0)
    bar.setValue(bar.maximum())
    assert right.scene_centre().x() == pytest.approx(left.scene_centre().x(), abs=1.0)


def test_changing_device_reloads_the_model(qtbot, window):
    dialog = window.open_settings()
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    with qtbot.waitSignal(window.model_ready, timeout=TIMEOUT):
        dialog.accept()
    assert window.settings.device == "cpu"
    assert window.classifier is not None


def test_default_model_end_to_end(qtbot, settings_store, dialogs, default_model_path, mni_jpg):
    """The real model: drop a JPG, the class and the heatmap appear."""
    from app.ui.main_window import MainWindow

    win = MainWindow(settings_store=settings_store, model_path=default_model_path)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.classifier is not None, timeout=60000)
    with qtbot.waitSignal(win.prediction_shown, timeout=60000):
        drop(win, [mni_jpg])
    card = win.classifier.card
    prediction = win.view.predictions[0]
    assert win.results.title.text().endswith(card.display_name(prediction.predicted_class)) or \
        card.display_name(prediction.predicted_class) in win.results.title.text()
    assert win.viewer.overlay_pane.has_image()
    assert not dialogs
