"""PDF reports, checked as a reader sees them: rendered with pdftoppm, text read with pdftotext."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.core.model.card import DISCLAIMER
from app.core.reports.numbers import format_percent, format_probability
from app.core.reports.batch_pdf import BatchReport, write_batch_report
from app.core.model.identity import ModelInfo
from app.core.reports.pdf import key_slice_indices, write_scan_report, write_series_report
from tests.report_fixtures import (
    CLASS_NAMES,
    FakeBatchItem,
    dicom_series,
    fake_prediction,
    scan_from_png,
    simple_overlay,
)

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdftoppm")), reason="poppler-utils not installed"
)

MODEL = ModelInfo(
    name="brainlens-vgg16", version="1.2.3", sha256="5e" * 32, device="CPU",
    class_names=CLASS_NAMES,
    display_names={"glioma": "Glioma", "meningioma": "Meningioma", "no_tumor": "No tumour",
                   "pituitary": "Pituitary"},
    disclaimer=DISCLAIMER, intended_use="Research and education.", no_tumour_class="no_tumor",
    gradcam_shape=(14, 14),
)
IDENTIFIERS = ("Doe", "Jane", "BL-0001", "1970-01-01", "BrainLens Test Hospital", "IM00")


def pdf_text(path: Path, layout: bool = True) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    out = subprocess.run(args, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def pdf_pages(path: Path, tmp_path: Path) -> list[Path]:
    prefix = tmp_path / path.stem
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(prefix)], check=True)
    return sorted(tmp_path.glob(f"{path.stem}-*.png"))


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return dicom_series(tmp_path_factory.mktemp("pdf_series"), range(50, 130, 10))


@pytest.fixture(scope="module")
def predictions(series):
    rng = np.random.default_rng(3)
    preds = []
    for i in range(len(series)):
        probs = rng.dirichlet([2, 1, 1, 1])
        preds.append(fake_prediction(probs, flags=("low_confidence",) if probs.max() < 0.6 else (), seed=i))
    return preds


def test_scan_report_shows_result_model_and_patient(tmp_path, series):
    scan = series[3]
    pred = fake_prediction([0.8734, 0.06, 0.05, 0.0166])
    overlay = simple_overlay(scan.display, pred.cams[0])
    out = write_scan_report(tmp_path / "scan.pdf", scan, pred, model_info=MODEL, overlay_rgb=overlay)
    text = pdf_text(out)
    assert "Glioma" in text and "87.34 %" in text  # class and confidence
    assert "95.00 %" in text  # P(tumour) = 1 - P(no tumour)
    for p in (0.06, 0.05, 0.0166):
        assert format_percent(p) in text  # every class on the bar chart
    assert "1.2.3" in text and MODEL.sha256 in text and "CPU" in text
    assert "Doe, Jane" in text and "BL-0001" in text and "MRI BRAIN" in text
    assert scan.file_sha256 in text
    assert "not a tumour outline" in re.sub(r"\s+", " ", pdf_text(out, layout=False))  # the Grad-CAM caveat
    assert "Not a medical device" in text
    pages = pdf_pages(out, tmp_path)
    assert len(pages) == 1  # a single scan fits on one page


def test_anonymised_scan_report_has_no_identifiers(tmp_path, series):
    scan = series[3]
    pred = fake_prediction([0.1, 0.7, 0.1, 0.1])
    out = write_scan_report(tmp_path / "anon.pdf", scan, pred, model_info=MODEL,
                            overlay_rgb=simple_overlay(scan.display, pred.cams[1]), anonymise=True)
    text = pdf_text(out)
    for identifier in IDENTIFIERS:
        assert identifier not in text, identifier
    assert "removed (anonymised)" in text and "Meningioma" in text and "70.00 %" in text
    assert "MRI BRAIN" in text  # a study description identifies no one and stays
    assert scan.metadata.patient_name == "Doe^Jane"  # the scan itself is untouched


def test_png_scan_says_not_available_and_computes_overlay(tmp_path, mni_png):
    scan = scan_from_png(mni_png)
    out = write_scan_report(tmp_path / "png.pdf", scan, fake_prediction([0.2, 0.2, 0.5, 0.1]),
                            model_info=MODEL)
    text = pdf_text(out)
    assert "not available" in text and "axial_z90.png" in text and "No tumour" in text


def test_not_assessed_scan_reports_no_class(tmp_path, series):
    pred = fake_prediction([0.9, 0.04, 0.03, 0.03], flags=("out_of_distribution",), assessed=False)
    out = write_scan_report(tmp_path / "ood.pdf", series[0], pred, model_info=MODEL)
    text = re.sub(r"\s+", " ", pdf_text(out, layout=False))
    assert "Not assessed" in text and "Out of distribution" in text and "P(tumour) not reported" in text
    assert "No class, confidence or probability is reported" in text
    assert "90.00 %" not in text and "Glioma" not in text  # the model's top score of a non-MRI is no result


def test_series_report_summary_and_key_slices(tmp_path, series, predictions):
    out = write_series_report(tmp_path / "series.pdf", series, predictions, model_info=MODEL)
    text = re.sub(r"[ \t]+", " ", pdf_text(out))
    keys = key_slice_indices(predictions, 3)
    assert len(keys) == 3
    best = max(range(len(predictions)), key=lambda i: predictions[i].p_tumour)
    assert best in keys
    assert f"{format_percent(predictions[best].p_tumour)} at slice {best + 1}" in text
    for rank, i in enumerate(keys, start=1):
        assert f"Key slice {rank}: slice {i + 1} of {len(series)}" in text
    assert f"Slices classified {len(series)}" in text and "T1 AX MNI" in text
    assert 2 <= len(pdf_pages(out, tmp_path)) <= 3


def test_series_report_refuses_mismatched_inputs(tmp_path, series, predictions):
    with pytest.raises(ValueError):
        write_series_report(tmp_path / "x.pdf", series, predictions[:-1], model_info=MODEL)


def _items(series, predictions, repeat=1):
    items = [FakeBatchItem(s.source, s.label, "ok", None, s, p, s.file_sha256) for s, p in zip(series, predictions)]
    items.insert(2, FakeBatchItem(Path("/data/Doe_Jane/broken.dcm"), "broken.dcm", "error",
                         "The file is incomplete (it was probably cut short while copying or downloading).",
                         None, None, None))
    return items * repeat


def test_batch_report_summary_table_and_figures_match_csv_rounding(tmp_path, series, predictions):
    items = _items(series, predictions)
    out = write_batch_report(tmp_path / "batch.pdf", items, model_info=MODEL)
    text = re.sub(r"[ \t]+", " ", pdf_text(out))
    assert f"Scans in this batch {len(items)}" in text
    assert "Failed to load 1" in text and "cut short while copying" in text
    flagged = sum(1 for p in predictions if p.flags)
    assert f"Flagged (any flag) {flagged}" in text
    for scan, pred in zip(series, predictions):
        assert scan.label in text
        # the PDF's percent is the CSV's probability with the decimal point moved
        csv_value = format_probability(pred.confidence)
        assert f"{float(csv_value) * 100:.2f} %" in text
    counts = {c: sum(1 for p in predictions if p.predicted_class == c) for c in CLASS_NAMES}
    for name, count in counts.items():
        assert f"{MODEL.display_name(name)} ({count})" in text


def test_batch_report_paginates_and_anonymises(tmp_path, series, predictions):
    items = _items(series, predictions, repeat=6)  # 54 rows
    out = write_batch_report(tmp_path / "big.pdf", items, model_info=MODEL, anonymise=True)
    text = pdf_text(out)
    for identifier in IDENTIFIERS + ("broken.dcm",):
        assert identifier not in text, identifier
    assert f"image {series[0].file_sha256[:12]}" in text
    pages = pdf_pages(out, tmp_path)
    assert len(pages) >= 3
    assert f"Page {len(pages)} of {len(pages)}" in text


def test_batch_report_streams_without_scans(tmp_path, series, predictions):
    report = BatchReport(model_info=MODEL)
    for item in _items(series, predictions):
        item.scan = None  # the CLI drops each scan after use
        report.add(item)
    out = report.write(tmp_path / "stream.pdf")
    assert "Glioma" in pdf_text(out) or "Meningioma" in pdf_text(out)


def test_report_modules_stay_light():
    """The report and audit code runs headless and bundles small: no Qt, TensorFlow or matplotlib."""
    import sys as _sys

    code = ("import sys, app.core.reports.pdf, app.core.reports.dicom_outputs, app.core.reports.audit; "
            "print(sorted(m for m in ('PySide6', 'tensorflow', 'matplotlib', 'keras') if m in sys.modules))")
    out = subprocess.run([_sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def test_accented_patient_name_renders(tmp_path, series):
    from dataclasses import replace

    scan = replace(series[0], metadata=replace(series[0].metadata, patient_name="Müller^Jürgen"))
    out = write_scan_report(tmp_path / "name.pdf", scan, fake_prediction([0.7, 0.1, 0.1, 0.1]),
                            model_info=MODEL)
    assert "Müller, Jürgen" in pdf_text(out)
