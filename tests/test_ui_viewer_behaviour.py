"""The viewer behaves as a radiologist expects (issue 15): honest figures, counts that add up, slice keys
and wheel wherever the focus is, state that follows the scan, Ctrl+E on what is shown, reading aids."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402

from tests import mri_data  # noqa: E402
from tests.test_ui_not_assessed import NAMES, _prediction  # noqa: E402
from tests.ui_fixtures import dialogs, no_dangling_workers, settings_store, tiny_model, window  # noqa: E402

TIMEOUT = 20000


def open_series(qtbot, win, folder: Path) -> None:
    win.open_paths([folder])
    qtbot.waitUntil(lambda: len(win.view.scans) > 1 and len(win.view.predictions) == len(win.view.scans),
                    timeout=TIMEOUT)


def wheel(widget, steps: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(widget.rect().center())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase,
                        False)
    widget.wheelEvent(event)


# --- 2. honest confidence ----------------------------------------------------------------------------
def test_a_rounded_certainty_is_never_shown_and_an_uncalibrated_model_says_so(qtbot):
    from app.ui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_classes(tuple(NAMES), NAMES)
    sure = _prediction(assessed=True)
    sure.confidence, sure.probabilities = 0.9996, np.array([0.0001, 0.9996, 0.0002, 0.0001], np.float32)
    panel.show_prediction(sure, NAMES, None, calibrated=False)
    assert "> 99.9 %" in panel.subtitle.text() and "100.0" not in panel.subtitle.text()
    assert "uncalibrated" in panel.subtitle.text() and panel.subtitle.toolTip()
    assert panel.bar_texts()[1] == "> 99.9 %" and panel.bar_texts()[0] == "< 0.1 %"
    panel.show_prediction(sure, NAMES, None, calibrated=True)
    assert "uncalibrated" not in panel.subtitle.text()


# --- 3. counts that add up ---------------------------------------------------------------------------
def test_batch_counts_add_up_and_the_table_has_series_and_patient(qtbot, window, mni_series_dir, mni_png, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(mni_series_dir, folder / "series")
    shutil.copy(mni_png, folder / "a.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    window.open_paths([folder])
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        pass
    assert "Looking for scans" not in window.statusBar().currentMessage()
    status = window.batch.status.text()
    numbers = [int(n) for n in __import__("re").findall(r"(\d+) (?:classified|not assessed|failed)", status)]
    assert status.startswith("Done: 22 scans:") and sum(numbers) == 22 and "1 failed" in status
    bar = window.statusBar().currentMessage()  # short enough for the status bar: no per-class detail
    assert __import__("re").fullmatch(r"Batch done: 22 scans: \d+ classified, \d+ not assessed, 1 failed", bar), bar
    rows = window.batch.model.rows
    summary = next(r for r in rows if r.is_summary)
    assert summary.label.startswith("▸ Series") and "of 20 slices" in summary.position
    patients = {window.batch.model.data(window.batch.model.index(i, 1)) for i in range(len(rows))}
    assert "Doe Jane" in patients
    window.metadata.hide_identifiers.setChecked(True)
    patients = {window.batch.model.data(window.batch.model.index(i, 1)) for i in range(len(rows))}
    assert "Doe Jane" not in patients and "—" in patients
    assert "notumor" not in " ".join(r.class_name for r in rows)


# --- 4. slice navigation -----------------------------------------------------------------------------
def test_slice_keys_work_whatever_has_the_focus_and_the_wheel_scrolls_slices(qtbot, window, mni_series_dir):
    open_series(qtbot, window, mni_series_dir)
    page = window.page
    page.presets.setFocus()  # at start the preset list took the keys
    start = window.view.index
    qtbot.keyClick(page.presets, Qt.Key.Key_Right)
    assert window.view.index == start + 1 and page.presets.currentIndex() == 0
    page.slice_bar.jump.click()  # after "Jump to slice" the keys stopped working
    best = window.view.index
    qtbot.keyClick(page.slice_bar.jump, Qt.Key.Key_Down)
    assert window.view.index == min(best + 1, 19)
    qtbot.keyClick(window.viewer.scan_pane.viewport(), Qt.Key.Key_End)
    assert window.view.index == 19
    qtbot.keyClick(page.slice_bar.slider, Qt.Key.Key_Home)
    assert window.view.index == 0
    qtbot.keyClick(page.reset_button, Qt.Key.Key_PageDown)
    assert window.view.index == 5
    pane = window.viewer.scan_pane
    zoom = pane.zoom
    wheel(pane, -1)  # towards the user: the next slice, no zoom
    assert window.view.index == 6 and pane.zoom == pytest.approx(zoom)
    wheel(pane, 1, Qt.KeyboardModifier.ControlModifier)  # Ctrl+wheel zooms
    assert window.view.index == 6 and pane.zoom > zoom


def test_opening_one_dicom_file_opens_its_whole_series_at_that_file(qtbot, window, mni_series_dir):
    import pydicom

    one = sorted(mni_series_dir.glob("*.dcm"))[3]
    with qtbot.waitSignal(window.scan_shown, timeout=TIMEOUT):
        window.open_paths([one])
    assert len(window.view.scans) == 20
    assert Path(window.view.current_scan().source).resolve() == one.resolve()
    assert "whole series" in window.statusBar().currentMessage()
    assert pydicom.dcmread(one, stop_before_pixels=True).SeriesInstanceUID
    qtbot.waitUntil(lambda: len(window.view.predictions) == 20, timeout=TIMEOUT)


# --- 5. state that follows the scan ------------------------------------------------------------------
def test_heatmap_choice_resets_for_each_new_scan(qtbot, window, mni_png, mni_jpg):
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_png])
    window.results.select_class(3)  # "Pituitary" once ...
    assert window.results.selected_class() == 3
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_jpg])
    assert window.results.selected_class() is None  # ... is not every later patient's map
    assert "(predicted)" in window.viewer.overlay_pane.corner_text("top_left")


def test_a_not_assessed_scan_draws_no_class_map_until_one_is_picked(qtbot, window, tmp_path):
    photo = np.random.default_rng(1).integers(0, 256, (200, 260, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([tmp_path / "photo.png"])
    overlay = window.viewer.overlay_pane
    assert not overlay.has_image() and "Not assessed" in overlay.hint_text()
    window.results.select_class(1)
    assert overlay.has_image()


def test_a_failed_open_clears_the_previous_patient_and_names_the_file(qtbot, window, dialogs, mni_series_dir, tmp_path):
    open_series(qtbot, window, mni_series_dir)
    assert window.metadata.value_of("Name") == "Doe^Jane"
    broken = tmp_path / "next_patient.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    window.open_paths([broken])
    qtbot.waitUntil(lambda: bool(dialogs), timeout=TIMEOUT)
    assert "next_patient.png" in dialogs[-1][0]
    assert not window.view.scans and not window.viewer.scan_pane.has_image()
    assert not window.viewer.overlay_pane.has_image()
    assert window.metadata.value_of("Name") is None  # the previous patient is gone
    assert window.page.currentIndex() == 0 and "next_patient.png" in window.page.hint.message.text()


def test_a_right_drag_names_the_custom_window(qtbot, window, mni_series_dir):
    open_series(qtbot, window, mni_series_dir)
    pane = window.viewer.scan_pane
    centre = pane.viewport().rect().center()
    qtbot.mousePress(pane.viewport(), Qt.MouseButton.RightButton, pos=centre)
    qtbot.mouseMove(pane.viewport(), centre + QPoint(40, 10))
    qtbot.mouseRelease(pane.viewport(), Qt.MouseButton.RightButton, pos=centre + QPoint(40, 10))
    width, level = window.view.window[1], window.view.window[0]
    assert window.page.presets.currentText() == f"Custom (W {width:.0f}  L {level:.0f})"


# --- 6. Ctrl+E exports what is on screen -------------------------------------------------------------
def test_ctrl_e_follows_what_is_shown_and_saves_away_from_the_scans(qtbot, window, mni_png, mni_series_dir, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(2):
        shutil.copy(mni_png, folder / f"s{i}.png")
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.open_paths([folder])
    assert window.exporter.report_kind() == "batch" and window.report_action.text() == "Export batch report…"
    open_series(qtbot, window, mni_series_dir)  # the batch panel stays open, a series is shown
    assert window.batch_dock.isVisible()
    assert window.exporter.report_kind() == "series" and window.report_action.text() == "Export series report…"
    asked = []
    window.exporter.ask = lambda _w, title, suggested, *_rest: asked.append((title, suggested)) or None
    window.report_action.trigger()
    assert asked and asked[0][0] == "Export series report"
    assert Path(asked[0][1]).parent.resolve() != mni_series_dir.resolve()


# --- 7. reading aids ---------------------------------------------------------------------------------
def test_reading_aids_annotations_colour_bar_ruler_and_tags(qtbot, window, mni_series_dir):
    open_series(qtbot, window, mni_series_dir)
    scan_pane, overlay_pane = window.viewer.panes()
    corner = scan_pane.corner_text
    assert "Doe Jane" in corner("top_left") and "2026-01-15" in corner("top_right")
    assert corner("bottom_right").startswith(f"Slice {window.view.index + 1} / 20") and "W " in corner("bottom_left")
    window.metadata.hide_identifiers.setChecked(True)
    assert "Doe" not in scan_pane.corner_text("top_left")
    assert len(overlay_pane.colour_bar()) == 64  # the heatmap's colour bar is drawn
    # the ruler: a 3-4-5 triangle of image pixels at 1 mm spacing is 5 mm
    window.page.ruler_button.setChecked(True)
    start = scan_pane.mapFromScene(QPointF(10, 10))
    end = scan_pane.mapFromScene(QPointF(40, 50))
    qtbot.mousePress(scan_pane.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(scan_pane.viewport(), end)
    qtbot.mouseRelease(scan_pane.viewport(), Qt.MouseButton.LeftButton, pos=end)
    scene = [scan_pane.mapToScene(p) for p in (start, end)]
    expected = ((scene[1].x() - scene[0].x()) ** 2 + (scene[1].y() - scene[0].y()) ** 2) ** 0.5
    assert scan_pane.measurement_mm() == pytest.approx(expected, rel=1e-6) and expected > 30
    browser = window.show_dicom_tags()
    try:
        assert any(r.keyword == "PixelSpacing" for r in browser.rows)
        browser.search.setText("SeriesDescription")
        shown = browser.visible_rows()
        assert [r.value for r in shown] == ["T1 AX MNI"]
        browser.search.setText("PatientName")
        assert [r.value for r in browser.visible_rows()] == ["(hidden)"]  # identifiers hidden
    finally:
        browser.close()


def test_pixel_spacing_scales_the_ruler():
    from app.ui.image_view import distance_mm

    assert distance_mm(QPointF(0, 0), QPointF(3, 4), (1.0, 1.0)) == pytest.approx(5.0)
    assert distance_mm(QPointF(0, 0), QPointF(10, 0), (0.5, 0.25)) == pytest.approx(2.5)
    assert distance_mm(QPointF(0, 0), QPointF(3, 4), None) is None


def test_results_panel_fits_at_1280x800_with_the_batch_open(qtbot, window, mni_png, tmp_path):
    window.resize(1280, 800)
    folder = tmp_path / "b"
    folder.mkdir()
    shutil.copy(mni_png, folder / "x.png")
    shutil.copy(mni_png, folder / "y.png")
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.open_paths([folder])
    with qtbot.waitSignal(window.prediction_shown, timeout=TIMEOUT):
        window.open_paths([mni_png])
    scroll = window.results_dock.widget()
    qtbot.waitUntil(lambda: scroll.viewport().height() > 0, timeout=TIMEOUT)
    assert window.results.sizeHint().height() <= scroll.viewport().height() + 2


def test_a_long_error_hint_on_the_empty_page_shows_every_line(qtbot, window):
    window.resize(1400, 900)
    window.show()
    window.page.show_hint("scan_with_a_long_name.dcm could not be opened: " + "the file ends before its pixel data; " * 6)
    qtbot.wait(50)
    label = window.page.hint.message
    assert label.isVisible() and label.heightForWidth(label.width()) > 2 * label.fontMetrics().height()
    assert label.height() >= label.heightForWidth(label.width())  # tall enough for all its wrapped lines
