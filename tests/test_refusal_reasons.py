"""Refusals name the real cause (issue 15, item 8) and the CLI's table stays clean of reader warnings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

import app.__main__ as entry
from app import cli
from app.core.errors import EmptyFileError
from app.core.scans.loading import load_scans
from tests import mri_data
from tests.model_fixtures import tiny_model


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory) -> Path:
    """A real axial brain slice whose DICOM header says CT, beside the same slice as MR."""
    import pydicom

    root = tmp_path_factory.mktemp("ct")
    (path,) = mri_data.write_dicom_series(root / "ct", [90], series_description="HEAD CT")
    ds = pydicom.dcmread(path)
    ds.Modality = "CT"
    ds.save_as(path)
    mri_data.write_dicom_series(root / "mr", [90])
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([*map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_ct_says_it_is_a_ct_not_an_mri(capsys, tiny_model, ct_folder, tmp_path):
    out_csv, out_json = tmp_path / "r.csv", tmp_path / "r.json"
    code, out, _ = run(capsys, ct_folder, "--model", tiny_model, "--csv", out_csv, "--json", out_json, "--no-audit")
    assert code == 0
    ct_line = next(line for line in out.splitlines() if "IM" in line and "not assessed" in line)
    assert "this is a CT, not an MRI" in ct_line and "symmetric" not in ct_line
    with out_csv.open(newline="") as handle:
        rows = {Path(r["path"]).parent.name: r for r in csv.DictReader(handle)}
    assert rows["ct"]["status"] == "not_assessed" and rows["ct"]["flags"] == "out_of_distribution;modality_CT"
    assert rows["ct"]["p_tumour"] == "" and rows["ct"]["prob_glioma"] == "" and rows["ct"]["raw_prob_glioma"]
    assert "modality_CT" not in rows["mr"]["flags"]
    doc = json.loads(out_json.read_text())
    ct = next(r for r in doc["results"] if "/ct/" in r["path"])
    assert ct["predicted_class"] is None and ct["confidence"] is None and ct["probabilities"] is None
    assert ct["raw_model_class"] and set(ct["raw_probabilities"]) == {"glioma", "meningioma", "notumor", "pituitary"}
    assert doc["summary"]["not_assessed"] >= 1


def test_the_result_panel_names_a_ct_as_a_ct(qtbot, ct_folder, tiny_model):
    pytest.importorskip("PySide6")
    from app.core.model.inference import Classifier
    from app.ui.results_panel import ResultsPanel

    scan = load_scans(next((ct_folder / "ct").glob("*.dcm")))[0]
    prediction = Classifier(tiny_model, device="cpu").classify([scan])[0]
    assert prediction.ood_reasons == ("modality_CT",)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_classes(prediction.class_names, {})
    panel.show_prediction(prediction, {}, None)
    assert panel.title.text() == "Not assessed" and "this is a CT, not an MRI" in panel.subtitle.text()


def test_an_empty_file_says_the_file_is_empty(capsys, tiny_model, tmp_path):
    empty = tmp_path / "scan.dcm"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="The file is empty"):
        load_scans(empty)
    code, out, _ = run(capsys, tmp_path, "--model", tiny_model, "--no-audit")
    assert code == 1 and "The file is empty" in out.split("Could not classify:")[1]


def test_without_a_display_brainlens_suggests_the_cli(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(entry.sys, "platform", "linux")
    assert entry.main([]) == 2
    assert "brainlens classify" in capsys.readouterr().err
    assert not entry.no_display({"DISPLAY": ":0"}, "linux")
    assert not entry.no_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not entry.no_display({}, "win32")


def test_reader_warnings_go_to_a_log_not_into_the_table(capsys, tiny_model, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    image = Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(90)))
    image.save(folder / "plain.png")
    image.convert("P").save(folder / "palette.png", transparency=b"\0" * 10)  # Pillow warns on reading it
    code, out, err = run(capsys, folder, "--model", tiny_model, "--no-audit")
    assert code == 0
    assert "Warning" not in out and "Palette" not in out  # the table is one line per scan, nothing else
    assert "warning(s) from the file readers" in err
    log = Path(err.split("see ")[1].split(" (first")[0])
    assert "Palette images" in log.read_text()
