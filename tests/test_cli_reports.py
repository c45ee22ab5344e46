"""`brainlens classify --report/--anonymise`, the audit records it appends, and `brainlens audit verify`."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app.__main__ as entry
from app.core.reports.audit import default_log_path, verify_audit_log
from tests import mri_data
from tests.model_fixtures import tiny_model

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BRAINLENS_DATA_DIR", str(tmp_path / "user"))
    return tmp_path / "user"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    mri_data.write_dicom_series(root / "series", range(60, 100, 10), patient_name="Quixote^Alonso",
                                patient_id="LAMANCHA-77")
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(90))).save(root / "ax90.png")
    (root / "broken.dcm").write_text("not a scan")
    return root


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@needs_pdftotext
def test_report_matches_the_csv_and_lists_the_failure(capsys, tiny_model, study, tmp_path, data_dir):
    code = entry.main(["classify", str(study), "--model", str(tiny_model), "--csv", str(tmp_path / "r.csv"),
                       "--report", str(tmp_path / "r.pdf"), "--device", "cpu"])
    capsys.readouterr()
    assert code == 1  # broken.dcm failed, the rest classified
    text = pdf_text(tmp_path / "r.pdf")
    assert "broken.dcm" in text and "This file is not an image" in text
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "ok"]
    assert len(rows) == 5
    for row in rows:  # every confidence in the CSV appears, as a percentage, in the PDF
        assert f"{100 * float(row['confidence']):.2f} %" in text


@needs_pdftotext
def test_anonymised_report_has_no_patient_identifiers(capsys, tiny_model, study, tmp_path, data_dir):
    code = entry.main(["classify", str(study), "--model", str(tiny_model), "--report", str(tmp_path / "a.pdf"),
                       "--anonymise", "--quiet"])
    capsys.readouterr()
    assert code == 1
    text = pdf_text(tmp_path / "a.pdf")
    assert "Batch classification report" in text
    for identifier in ("Quixote", "Alonso", "LAMANCHA-77", "BrainLens Test Hospital", "IM0002.dcm", "ax90.png"):
        assert identifier not in text  # file names often carry patient names: they go too


def test_report_to_a_missing_folder_is_a_usage_error_before_any_work(capsys, tiny_model, study, tmp_path,
                                                                     data_dir):
    code = entry.main(["classify", str(study), "--model", str(tiny_model),
                       "--report", str(tmp_path / "no" / "such" / "r.pdf")])
    captured = capsys.readouterr()
    assert code == 2 and "cannot write" in captured.err and "scan" not in captured.out
    assert not default_log_path().exists()


def test_every_classification_is_audited_and_the_chain_verifies(capsys, tiny_model, study, tmp_path, data_dir):
    assert entry.main(["classify", str(study), "--model", str(tiny_model), "--quiet"]) == 1
    capsys.readouterr()
    log = default_log_path()
    assert log.parent == data_dir
    result = verify_audit_log(log)
    assert result.ok and result.n_records == 5  # 4 slices + 1 PNG; the broken file classified nothing
    raw = log.read_text()
    assert "Quixote" not in raw and "LAMANCHA" not in raw and str(study) not in raw

    assert entry.main(["audit", "verify"]) == 0
    assert "5" in capsys.readouterr().out
    lines = raw.splitlines()
    lines[2] = lines[2].replace('"cli_classify"', '"edited"')
    log.write_text("\n".join(lines) + "\n")
    assert entry.main(["audit", "verify"]) == 1
    capsys.readouterr()


def test_no_audit_writes_nothing(capsys, tiny_model, study, data_dir):
    entry.main(["classify", str(study), "--model", str(tiny_model), "--quiet", "--no-audit"])
    capsys.readouterr()
    assert not default_log_path().exists()


def test_not_assessed_lines_show_no_class_figures(capsys, tiny_model, tmp_path, data_dir):
    noise = np.random.default_rng(0).integers(0, 256, (240, 240, 3), dtype=np.uint8)  # a colour photo-like
    Image.fromarray(noise).save(tmp_path / "noise.png")
    entry.main(["classify", str(tmp_path / "noise.png"), "--model", str(tiny_model)])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("noise.png"))
    assert "not assessed" in line and "%" not in line and "0." not in line.split("not assessed")[1].split()[0]
