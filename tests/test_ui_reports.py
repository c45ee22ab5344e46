"""Reports, DICOM outputs and the audit trail from the main window (tiny model, real MRI data)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QPoint  # noqa: E402

from tests import mri_data  # noqa: E402
from tests.ui_fixtures import dialogs, no_dangling_workers, settings_store, tiny_model, window  # noqa: E402

TIMEOUT = 30000
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


@pytest.fixture(autouse=True)
def private_audit_dir(tmp_path, monkeypatch) -> Path:
    """This test's own audit log (never the tester's user folder)."""
    folder = tmp_path / "user_data"
    monkeypatch.setenv("BRAINLENS_DATA_DIR", str(folder))
    return folder


def audit_records(folder: Path) -> list[dict]:
    log = folder / "audit.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def answer(win, path: Path, anonymise: bool) -> list[tuple]:
    """The save dialog answers ``path`` and the anonymise choice; returns what it was asked."""
    asked: list[tuple] = []

    def ask(_parent, title, suggested, file_filter, anonymise_default):
        asked.append((title, suggested, file_filter, anonymise_default))
        return path, anonymise

    win.exporter.ask = ask
    return asked


def export(qtbot, win, trigger, path: Path, anonymise: bool = False) -> list[tuple]:
    asked = answer(win, path, anonymise)
    with qtbot.waitSignal(win.exporter.exported, timeout=TIMEOUT) as blocker:
        trigger()
        assert win.exporter.busy.isVisible()  # the busy bar shows while the worker writes
    assert blocker.args == [path]
    qtbot.waitUntil(lambda: not win.exporter.running and not win.exporter.busy.isVisible(), timeout=TIMEOUT)
    assert str(path) in win.statusBar().currentMessage()
    return asked


def open_and_classify(qtbot, win, path: Path, count: int = 1) -> None:
    with qtbot.waitSignal(win.scan_shown, timeout=TIMEOUT):  # not the previous scan's results
        win.open_paths([path])
    qtbot.waitUntil(lambda: len(win.view.scans) == count and len(win.view.predictions) == count, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not win.is_classifying(), timeout=TIMEOUT)


def open_file_menu(win) -> None:
    """As the user opening File: the menu brings its actions' text and enabled state up to date as it shows."""
    menu = next(action.menu() for action in win.menuBar().actions() if action.text() == "&File")
    menu.popup(win.mapToGlobal(QPoint(0, 0)))
    menu.hide()


def shown_class(win) -> str:
    prediction = win.view.predictions[win.view.index]
    if not prediction.assessed:
        return "Not assessed"
    return win.model_info.display_name(prediction.predicted_class)


@needs_poppler
def test_scan_report_from_the_viewer(qtbot, window, mni_jpg, tmp_path, private_audit_dir):
    open_and_classify(qtbot, window, mni_jpg)
    open_file_menu(window)
    assert window.report_action.text() == "Export scan report…"
    target = tmp_path / "scan report.pdf"
    asked = export(qtbot, window, window.report_action.trigger, target)
    assert asked[0][0] == "Export scan report" and asked[0][1].endswith("axial_z80-report.pdf")
    assert asked[0][3] == window.metadata.hide_identifiers.isChecked()  # the default follows the panel
    text = pdf_text(target)
    assert "Single-scan classification report" in text and shown_class(window) in text
    actions = [r["action"] for r in audit_records(private_audit_dir)]
    assert actions == ["view_classify", "export_report"]
    assert not window.audit_warning.isVisible()
    from app.core.reports.audit import verify_audit_log

    assert verify_audit_log(private_audit_dir / "audit.jsonl").ok


@needs_poppler
def test_series_report_anonymised_has_no_patient_name(qtbot, window, mni_series_dir, tmp_path, private_audit_dir):
    open_and_classify(qtbot, window, mni_series_dir, 20)
    plain, anonymous = tmp_path / "series.pdf", tmp_path / "series-anon.pdf"
    asked = export(qtbot, window, window.report_action.trigger, plain, anonymise=False)
    assert asked[0][0] == "Export series report"
    export(qtbot, window, window.report_action.trigger, anonymous, anonymise=True)
    text, anon_text = pdf_text(plain), pdf_text(anonymous)
    assert "Series classification report" in text and "Key slice 1" in text
    assert "Doe" in text and "BL-0001" in text
    assert "Doe" not in anon_text and "Jane" not in anon_text and "BL-0001" not in anon_text
    assert "anonymised" in anon_text
    records = audit_records(private_audit_dir)
    assert sum(r["action"] == "view_classify" for r in records) == 20
    assert [r["action"] for r in records].count("export_report") == 2
    assert "Doe" not in (private_audit_dir / "audit.jsonl").read_text()


def test_series_report_waits_for_every_slice(qtbot, window, mni_series_dir, dialogs):
    window.open_paths([mni_series_dir])
    qtbot.waitUntil(lambda: len(window.view.scans) == 20 and window.view.index in window.view.predictions,
                    timeout=TIMEOUT)
    window.view.predictions.pop(0, None)  # as if slice 1 were not classified yet
    asked = answer(window, Path("never.pdf"), False)
    window.exporter.export_viewer_report()
    assert not asked and dialogs and dialogs[-1][0] == "Nothing to export"
    assert "still being classified" in dialogs[-1][1]
    qtbot.waitUntil(lambda: not window.is_classifying(), timeout=TIMEOUT)


def write_batch_folder(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir()
    for z in (60, 80, 100):
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(folder / f"axial_z{z}.png")
    (folder / "notes.jpg").write_bytes(b"not an image")
    return folder


@needs_poppler
def test_batch_report_with_thumbnails(qtbot, window, tmp_path, private_audit_dir):
    batch = write_batch_folder(tmp_path / "batch")
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.open_paths([batch])
    items = window.batch.model.items
    assert len(items) == 4
    ok = [i for i in items if i.status == "ok"]
    assert all(i.scan is None and 0 < len(i.thumbnail_jpeg) < 20_000 for i in ok)  # no pixels kept
    assert window.batch.report_button.isEnabled() and window.batch_report_action.isEnabled()
    assert window.report_action.text() == "Export batch report…"
    assert window.export_action.isEnabled()  # CSV too
    target = tmp_path / "batch.pdf"
    export(qtbot, window, window.report_action.trigger, target)  # Ctrl+E: the batch table is showing
    text = pdf_text(target)
    assert "Batch classification report" in text and "axial_z60.png" in text and "notes.jpg" in text
    for item in ok:
        name = "Not assessed" if not item.prediction.assessed else window.model_info.display_name(
            item.prediction.predicted_class)
        assert name in text
    listing = subprocess.run(["pdfimages", "-list", str(target)], capture_output=True, text=True).stdout
    assert len(listing.strip().splitlines()) - 2 >= len(ok)  # one thumbnail per classified scan
    anonymous = tmp_path / "batch-anon.pdf"
    export(qtbot, window, window.batch.report_button.click, anonymous, anonymise=True)
    anon_text = pdf_text(anonymous)
    assert "axial_z60.png" not in anon_text and "anonymised" in anon_text
    actions = [r["action"] for r in audit_records(private_audit_dir)]
    assert actions.count("batch_classify") == len(ok) and actions[-2:] == ["export_report"] * 2


def test_heatmap_and_report_as_dicom(qtbot, window, tmp_path, private_audit_dir):
    import pydicom

    from app.core.reports.dicom_outputs import read_encapsulated_pdf

    files = mri_data.write_dicom_series(tmp_path / "one", [90])
    open_and_classify(qtbot, window, files[0])
    open_file_menu(window)
    assert window.dicom_heatmap_action.isEnabled() and window.dicom_report_action.isEnabled()
    window.results.heatmap.colormap.setCurrentText("jet")
    window.results.heatmap.set_opacity(0.7)
    shown = window.view.shown_overlay.copy()
    sc_path, anon_path = tmp_path / "heatmap.dcm", tmp_path / "heatmap-anon.dcm"
    export(qtbot, window, window.dicom_heatmap_action.trigger, sc_path, anonymise=False)
    export(qtbot, window, window.dicom_heatmap_action.trigger, anon_path, anonymise=True)
    ds, anon = pydicom.dcmread(sc_path), pydicom.dcmread(anon_path)
    source = pydicom.dcmread(files[0])
    assert ds.Modality == "OT" and ds.PhotometricInterpretation == "RGB"
    assert np.array_equal(ds.pixel_array, shown)  # the overlay as shown: class, opacity, colour map
    assert ds.StudyInstanceUID == source.StudyInstanceUID and str(ds.PatientName) == "Doe^Jane"
    assert np.array_equal(anon.pixel_array, shown)
    assert "Doe" not in str(anon.get("PatientName", "")) and anon.get("PatientID", "") != "BL-0001"

    pdf_path = tmp_path / "report.dcm"
    export(qtbot, window, window.dicom_report_action.trigger, pdf_path, anonymise=False)
    wrapped = pydicom.dcmread(pdf_path)
    assert str(wrapped.PatientName) == "Doe^Jane"
    assert read_encapsulated_pdf(pdf_path).startswith(b"%PDF")
    actions = [r["action"] for r in audit_records(private_audit_dir)]
    assert actions == ["view_classify", "export_dicom", "export_dicom", "export_dicom"]


def test_dicom_actions_disabled_for_plain_images(qtbot, window, mni_jpg, dialogs):
    open_and_classify(qtbot, window, mni_jpg)
    open_file_menu(window)
    assert not window.dicom_heatmap_action.isEnabled()
    assert not window.batch_report_action.isEnabled() and not window.export_action.isEnabled()  # no batch
    asked = answer(window, Path("never.dcm"), False)
    window.exporter.save_heatmap_dicom()  # called anyway: refused in words, nothing asked
    assert not asked and "Only a DICOM scan" in dialogs[-1][1]


def test_unwritable_folder_shows_an_error_dialog(qtbot, window, mni_jpg, tmp_path, dialogs):
    open_and_classify(qtbot, window, mni_jpg)
    blocker_file = tmp_path / "a-file"
    blocker_file.write_text("x")
    target = blocker_file / "report.pdf"  # its "folder" is a file: cannot be written
    answer(window, target, False)
    with qtbot.waitSignal(window.exporter.failed, timeout=TIMEOUT):
        window.report_action.trigger()
    qtbot.waitUntil(lambda: not window.exporter.running and not window.exporter.busy.isVisible(), timeout=TIMEOUT)
    title, message = dialogs[-1]
    assert title == "The export failed" and "Choose another folder" in message
    assert not target.exists()
    assert window.results.title.text() != title  # the result stays on screen


def test_audit_log_failure_is_told_once_and_nothing_crashes(qtbot, window, mni_jpg, mni_png, tmp_path,
                                                            monkeypatch, dialogs):
    blocker_file = tmp_path / "not-a-folder"
    blocker_file.write_text("x")
    monkeypatch.setenv("BRAINLENS_DATA_DIR", str(blocker_file / "data"))
    messages: list[str] = []
    window.audit.failed.connect(messages.append)
    open_and_classify(qtbot, window, mni_jpg)
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT)
    assert window.audit_warning.isVisible()  # lasts: later status messages do not hide it
    assert "audit log could not be written" in window.audit_warning.toolTip()
    open_and_classify(qtbot, window, mni_png)
    qtbot.wait(50)
    assert len(messages) == 1 and not dialogs  # told once, in the status bar, no dialog
    assert window.view.predictions  # the results are still shown


def test_save_dialog_has_anonymise_box(qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QCheckBox, QFileDialog

    from app.ui import export_actions

    seen: dict = {}

    def fake_exec(dialog):
        box = dialog.findChild(QCheckBox, "anonymiseBox")
        seen["checked"] = box.isChecked()
        seen["text"] = box.text()
        box.setChecked(False)
        dialog.selectFile(str(tmp_path / "chosen.pdf"))
        return 1

    monkeypatch.setattr(QFileDialog, "exec", fake_exec)
    result = export_actions.ask_save_path(None, "Export", "report.pdf", export_actions.PDF_FILTER, True)
    assert seen == {"checked": True, "text": export_actions.ANONYMISE_TEXT}
    assert result is not None and result[0].name == "chosen.pdf" and result[1] is False


def test_window_fits_a_1280x800_screen(qtbot, window, mni_series_dir):
    open_and_classify(qtbot, window, mni_series_dir, 20)
    window.metadata_dock.show()
    hint = window.minimumSizeHint()
    print(f"minimum size hint with a series and both side panels: {hint.width()} x {hint.height()}")
    assert hint.width() <= 1280 and hint.height() <= 760, hint  # 40 px left for a task bar
    window.resize(1280, 760)
    qtbot.waitUntil(lambda: window.height() <= 760, timeout=5000)
    dock = window.results_dock
    assert dock.geometry().bottom() <= window.height() and dock.geometry().right() <= window.width()


@needs_poppler
def test_scan_report_with_the_default_model(qtbot, default_model_path, settings_store, dialogs, tmp_path,
                                            private_audit_dir):
    """The real VGG16 model: the class it shows is the class the report prints."""
    from app.core.reports.audit import verify_audit_log
    from app.ui.main_window import MainWindow

    win = MainWindow(settings_store=settings_store, model_path=default_model_path, load_model=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.model_ready, timeout=120000):
        win.reload_model()
    win.show()
    files = mri_data.write_dicom_series(tmp_path / "one", [80])
    open_and_classify(qtbot, win, files[0])
    target = tmp_path / "vgg16-report.pdf"
    export(qtbot, win, win.report_action.trigger, target, anonymise=True)
    text = pdf_text(target)
    assert shown_class(win) in text and "Doe" not in text
    assert "BrainLens VGG16" in text or win.model_info.name in text
    check = verify_audit_log(private_audit_dir / "audit.jsonl")
    assert check.ok and check.n_records == 2


def test_classify_job_records_before_it_can_be_stopped(tiny_model, mni_series_dir):
    """A viewer worker stopped after its first result has still recorded that classification."""
    from app.core.model.inference import Classifier
    from app.core.scans.loading import load_scans
    from app.ui import jobs

    recorded: list = []

    class Trail:
        def classified(self, pairs, action, model_info=None):
            recorded.extend((sha, action) for sha, _ in pairs)

    scans = load_scans(mni_series_dir)
    job = jobs.classify_scans(Classifier(tiny_model), scans, jobs.SliceQueue(len(scans), 3), audit=Trail())
    index, _prediction = next(job)
    job.close()  # what GeneratorWorker.quit() leads to
    assert recorded == [(scans[index].file_sha256, "view_classify")] and scans[index].file_sha256
