"""One verdict everywhere: the GUI's batch table, the batch PDF it exports and the CLI's CSV flag the same
scans for the same low-confidence threshold, and a scan that is not assessed carries no figures in any."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from app import cli  # noqa: E402
from app.core.model.inference import Classifier  # noqa: E402
from app.core.scans.loading import load_scans  # noqa: E402
from tests import mri_data  # noqa: E402
from tests.ui_fixtures import dialogs, no_dangling_workers, settings_store, tiny_model, window  # noqa: E402

TIMEOUT = 30000
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) missing")


@pytest.fixture(scope="module")
def scans_folder(tmp_path_factory) -> Path:
    """Five real template slices and one colour photo (not an MRI: never assessed)."""
    folder = tmp_path_factory.mktemp("agreement")
    for z in (55, 70, 85, 100, 115):
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(folder / f"axial_z{z}.png")
    photo = np.random.default_rng(3).integers(0, 256, (180, 240, 3), dtype=np.uint8)
    Image.fromarray(photo).save(folder / "holiday_photo.png")
    return folder


def splitting_threshold(model: Path, folder: Path) -> float:
    """A threshold between the assessed scans' confidences, so that it flags some and not others
    and differs from the card's verdict."""
    classifier = Classifier(model, device="cpu")
    scans = [s for p in sorted(folder.glob("*.png")) for s in load_scans(p)]
    confidences = sorted(p.confidence for p in classifier.classify(scans) if p.assessed)
    assert len(set(confidences)) >= 2, "the test needs scans of different confidence"
    middle = len(confidences) // 2
    return float((confidences[middle - 1] + confidences[middle]) / 2)


def pdf_lines(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return text.splitlines()


@needs_poppler
def test_gui_table_its_pdf_and_the_cli_csv_agree(qtbot, window, scans_folder, tiny_model, tmp_path, capsys):
    threshold = splitting_threshold(tiny_model, scans_folder)
    window.settings.low_confidence_threshold = threshold
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.open_paths([scans_folder])
    table = {row.path.name: row for row in window.batch.model.rows}
    assert len(table) == 6
    low_in_table = {name for name, row in table.items() if "low confidence" in row.flags}
    assert low_in_table and low_in_table != {n for n, r in table.items() if r.ok and r.assessed}

    pdf = tmp_path / "batch.pdf"
    window.exporter.ask = lambda *_args: (pdf, False)
    with qtbot.waitSignal(window.exporter.exported, timeout=TIMEOUT):
        window.report_action.trigger()  # Ctrl+E: the batch is what is on screen
    lines = pdf_lines(pdf)
    all_scans = lines[next(i for i, line in enumerate(lines) if line.strip().startswith("All scans")):]
    low_in_pdf = {name for name in table for line in all_scans if name in line and "low confidence" in line}
    flagged = next(line for line in lines if "Flagged scans (" in line)
    assert low_in_pdf == low_in_table
    assert f"({sum(1 for r in table.values() if r.flags)})" in flagged

    out = tmp_path / "cli.csv"
    code = cli.main([str(scans_folder), "--model", str(tiny_model), "--device", "cpu", "--csv", str(out),
                     "--low-confidence", str(threshold), "--no-audit", "--quiet"])
    capsys.readouterr()
    assert code == 0
    with out.open(newline="") as handle:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    low_in_csv = {name for name, r in rows.items() if "low_confidence" in r["flags"].split(";")}
    assert low_in_csv == low_in_table
    words = {c: window.model_info.display_name(c) for c in window.classifier.card.class_names}
    for name, row in table.items():
        shown = words.get(rows[name]["predicted_class"], "Not assessed")
        assert row.class_name == shown
        csv_flags = [flag.replace("_", " ") for flag in rows[name]["flags"].split(";") if flag]
        assert row.flags == ", ".join(csv_flags)  # the same flags, out-of-distribution reasons included

    # the photo: not assessed, and no figure of it anywhere
    photo_row, photo_csv = table["holiday_photo.png"], rows["holiday_photo.png"]
    assert photo_row.class_name == "Not assessed" and photo_row.confidence is None and photo_row.p_tumour is None
    assert photo_csv["status"] == "not_assessed" and photo_csv["p_tumour"] == photo_csv["confidence"] == ""
    photo_line = next(line for line in all_scans if "holiday_photo.png" in line)
    assert "%" not in photo_line


def test_the_threshold_changes_the_table_when_changed_in_settings(qtbot, window, scans_folder, tiny_model):
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.open_paths([scans_folder])
    card = window.classifier.card.low_confidence_threshold
    assert all(("low confidence" in r.flags) == (r.confidence < card) for r in window.batch.model.rows if r.confidence)
    dialog = window.open_settings()
    dialog.use_card_threshold.setChecked(False)
    dialog.threshold.setValue(0.99)
    dialog.accept()
    assessed = [r for r in window.batch.model.rows if r.ok and r.assessed]
    assert assessed and all("low confidence" in r.flags for r in assessed if r.confidence < 0.99)
    photo = next(r for r in window.batch.model.rows if r.path.name == "holiday_photo.png")
    assert "low confidence" not in photo.flags  # not assessed: no confidence to be low
    assert re.search(r"6 scans: 5 classified .*, 1 not assessed, 0 failed", window.batch.status.text())
