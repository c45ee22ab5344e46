"""Reports fed by the real pipeline (loader, tiny ONNX classifier, batch generator, CSV writer)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess

import pydicom
import pytest
from PIL import Image

from app.core.model import gradcam
from app.core.reports.audit import record_classification, verify_audit_log
from app.core.runs.batch import BatchItem, SeriesSummary, run_batch
from app.core.model.inference import Classifier
from app.core.scans.loading import load_scans
from app.core.reports.dicom_outputs import write_encapsulated_pdf, write_secondary_capture
from app.core.reports.batch_pdf import write_batch_report
from app.core.model.identity import ModelInfo
from app.core.reports.pdf import write_scan_report, write_series_report
from app.core.reports.results_io import write_csv
from app.core.reports.sinks import ReleasePixels, ResultPipeline
from tests import mri_data
from tests.model_fixtures import tiny_model

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")


def pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"[ \t]+", " ", out.stdout.decode("utf-8"))


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mni_series_dir):
    root = tmp_path_factory.mktemp("report_batch")
    for z in (60, 80, 100):
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(root / f"axial_{z}.png")
    shutil.copytree(mni_series_dir, root / "series")
    (root / "notes.jpg").write_text("this is not an image")
    return root


def test_batch_pdf_figures_match_the_csv(tmp_path, classifier, folder):
    items = list(run_batch([folder], classifier, batch_size=8))
    info = ModelInfo.from_classifier(classifier)
    csv_path = tmp_path / "results.csv"
    write_csv(items, csv_path, classifier.card.class_names, classifier.model_sha256)
    pdf = write_batch_report(tmp_path / "batch.pdf", items, model_info=info)
    text = pdf_text(pdf)
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == sum(isinstance(i, BatchItem) for i in items) == 3 + 20 + 1
    lines = text.splitlines()
    for row in rows:
        name = row["path"].rsplit("/", 1)[-1]
        if row["status"] != "ok":
            assert "not an image" in text
            continue
        # the table line of this scan carries the CSV's confidence and P(tumour), same digits
        conf = f"{float(row['confidence']) * 100:.2f} %"
        p_t = f"{float(row['p_tumour']) * 100:.2f} %"
        slice_no = row["slice"]
        label = f"{name} — slice {slice_no}/20" if slice_no else name
        matches = [ln for ln in lines if label in ln]
        assert matches and conf in matches[-1] and p_t in matches[-1], (label, conf, p_t)  # "All scans"
    summary = next(i for i in items if isinstance(i, SeriesSummary))
    assert f"{summary.top_p_tumour * 100:.2f} %" in text or summary.top_p_tumour is None
    assert "Series (1)" in text and "Failed to load 1" in text


def test_single_scan_and_series_reports_from_the_pipeline(tmp_path, classifier, mni_series_dir):
    info = ModelInfo.from_classifier(classifier)
    paths = sorted(mni_series_dir.glob("*.dcm"))
    scan = load_scans(paths[0])[0]
    prediction = classifier.classify([scan])[0]
    overlay = gradcam.overlay(scan.display, prediction.heatmap(), opacity=0.4)
    pdf = write_scan_report(tmp_path / "scan.pdf", scan, prediction, model_info=info, overlay_rgb=overlay)
    text = pdf_text(pdf)
    assert info.display_name(prediction.predicted_class) in text or "Not assessed" in text
    assert classifier.card.version in text and classifier.model_sha256 in text

    items = [i for i in run_batch([mni_series_dir], classifier) if isinstance(i, BatchItem)]
    series = write_series_report(tmp_path / "series.pdf", [i.scan for i in items],
                                 [i.prediction for i in items], model_info=info)
    assert "Key slice 1" in pdf_text(series)

    sc = write_secondary_capture(tmp_path / "sc.dcm", overlay, scan)
    assert pydicom.dcmread(sc).StudyInstanceUID == scan.metadata.study_instance_uid
    doc = write_encapsulated_pdf(tmp_path / "report.dcm", pdf, scan)
    assert pydicom.dcmread(doc).StudyInstanceUID == scan.metadata.study_instance_uid

    log = tmp_path / "audit.jsonl"
    record = record_classification(prediction, file_sha256=scan.file_sha256, model_info=ModelInfo.from_classifier(classifier),
                                   log_path=log)
    assert record["model_sha256"] == classifier.model_sha256 and record["device"] == classifier.device
    assert record["model"] == f"{classifier.card.name} {classifier.card.version}"
    assert verify_audit_log(log).ok


def test_report_and_audit_sinks_follow_the_cli_stream(tmp_path, classifier, folder):
    """The CLI hands each item to its sinks, then drops the scan; the PDF and audit log still come out."""
    from app.core.reports.audit import AuditSink
    from app.core.reports.batch_pdf import PdfReportSink

    info = ModelInfo.from_classifier(classifier)
    log = tmp_path / "audit.jsonl"
    sinks = [PdfReportSink(tmp_path / "cli.pdf", info, anonymise=True),
             AuditSink(info, log_path=log, flush_every=5)]
    ok = 0
    with ResultPipeline([*sinks, ReleasePixels()]) as pipeline:
        for item in run_batch([folder], classifier):
            pipeline.write(item)
            if isinstance(item, BatchItem):
                ok += item.ok
                assert item.scan is None  # released once the sinks have seen it
    text = pdf_text(tmp_path / "cli.pdf")
    assert "axial_60.png" not in text and "anonymised" in text
    result = verify_audit_log(log)
    assert result.ok and result.n_records == ok == sinks[1].written
    assert "axial_" not in log.read_text()  # no file names in the audit log
