"""The one result pipeline (app.core.reports.sinks) that ``brainlens classify`` and the GUI's batch feed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from app import cli
from app.core.model.identity import ModelInfo
from app.core.model.inference import Classifier
from app.core.reports.results_io import CsvResultWriter, JsonResultWriter, write_csv
from app.core.reports.sinks import ReleasePixels, ResultPipeline, RunSummary
from app.core.runs.batch import BatchItem, SeriesSummary, run_batch
from app.core.runs.progress import CancelToken
from tests import mri_data
from tests.model_fixtures import tiny_model

THRESHOLD = 0.9  # above the tiny model's confidences, so the low-confidence flag really is at stake


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mni_series_dir) -> Path:
    """Six axial slices, a 20-slice DICOM series and a file that is not an image."""
    root = tmp_path_factory.mktemp("sinks")
    for z in range(60, 90, 5):
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(root / f"axial_{z}.png")
    shutil.copytree(mni_series_dir, root / "series")
    (root / "notes.png").write_text("not an image")
    return root


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _records(path: Path) -> list[tuple]:
    return [(r["file_sha256"], r["result"], r["confidence"], r["p_tumour"], tuple(r["flags"]))
            for r in read_records(path)]


def test_the_cli_and_the_gui_batch_write_the_same_results_and_audit_records(classifier, folder, tmp_path, monkeypatch):
    from app.ui import jobs
    from app.ui.audit_trail import AuditTrail

    monkeypatch.setenv("BRAINLENS_DATA_DIR", str(tmp_path / "cli-data"))
    code = cli.main(["classify", str(folder), "--model", str(classifier.path), "--csv", str(tmp_path / "cli.csv"),
                     "--low-confidence", str(THRESHOLD), "--quiet"])
    assert code == 1  # notes.png fails
    from app.core.reports.audit import default_log_path

    cli_log = default_log_path()
    model = ModelInfo.from_classifier(classifier).with_threshold(THRESHOLD)
    gui_log = tmp_path / "gui-audit.jsonl"
    values = list(jobs.batch_job([folder], classifier, CancelToken(), AuditTrail(gui_log), model))
    items = [v for v in values if isinstance(v, (BatchItem, SeriesSummary))]
    write_csv(items, tmp_path / "gui.csv", classifier.card.class_names, classifier.model_sha256, THRESHOLD)

    cli_rows, gui_rows = _csv_rows(tmp_path / "cli.csv"), _csv_rows(tmp_path / "gui.csv")
    assert len(cli_rows) == 27 and cli_rows == gui_rows
    assert any("low_confidence" in r["flags"] for r in cli_rows)
    assert _records(cli_log) == _records(gui_log) and len(_records(gui_log)) == 26
    assert {r["action"] for r in read_records(cli_log)} == {"cli_classify"}
    assert {r["action"] for r in read_records(gui_log)} == {"batch_classify"}

    scans = [i for i in items if isinstance(i, BatchItem)]
    assert all(i.scan is None for i in scans)  # the GUI's table keeps no pixels ...
    kept = [i for i in scans if i.ok]
    assert all(0 < len(i.thumbnail_jpeg or b"") < 20_000 for i in kept)  # ... but a thumbnail each
    assert any(i.metadata is not None and i.metadata.study_instance_uid for i in kept)  # and the DICOM header
    summary = RunSummary.of(items)
    assert (summary.classified + summary.not_assessed, summary.failed) == (26, 1)


def test_a_cancelled_gui_batch_still_records_what_it_classified(classifier, folder, tmp_path):
    from app.ui import jobs
    from app.ui.audit_trail import AuditTrail

    log = tmp_path / "audit.jsonl"
    model = ModelInfo.from_classifier(classifier)
    stream = jobs.batch_job([folder], classifier, CancelToken(), AuditTrail(log), model)
    classified = 0
    for value in stream:
        if isinstance(value, BatchItem) and value.prediction is not None:
            classified += 1
            if classified == 3:
                break
    stream.close()  # what the worker does when the user presses Cancel
    assert len(read_records(log)) == 3


def test_an_interrupted_run_closes_every_sink_with_its_summary(classifier, folder, tmp_path):
    model = ModelInfo.from_classifier(classifier)
    pipeline = ResultPipeline([CsvResultWriter.for_model(tmp_path / "r.csv", model),
                               JsonResultWriter.for_model(tmp_path / "r.json", model), ReleasePixels()])
    with pytest.raises(KeyboardInterrupt), pipeline:
        for n, item in enumerate(run_batch([folder], classifier), start=1):
            pipeline.write(item)
            if n == 4:
                raise KeyboardInterrupt
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["summary"]["interrupted"] is True
    assert document["summary"]["ok"] + document["summary"]["not_assessed"] + document["summary"]["error"] == 4
    assert len(document["results"]) == 4 == len(_csv_rows(tmp_path / "r.csv"))


class _FailsToClose:
    def write(self, item) -> None:
        pass

    def close(self, summary) -> None:
        raise OSError(28, "No space left on device")


def test_a_sink_that_fails_to_close_does_not_stop_the_others(classifier, folder, tmp_path):
    model = ModelInfo.from_classifier(classifier)
    json_sink = JsonResultWriter.for_model(tmp_path / "r.json", model)
    pipeline = ResultPipeline([_FailsToClose(), json_sink])
    for item in run_batch([folder / "axial_60.png"], classifier):
        pipeline.write(item)
    with pytest.raises(OSError, match="No space left"):
        pipeline.close()
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["interrupted"] is False


def test_run_summary_counts_add_up_and_name_the_classes():
    meningioma = SimpleNamespace(assessed=True, predicted_class="meningioma")  # what the summary reads
    ok = BatchItem(Path("a.png"), "a.png", "ok", prediction=meningioma)
    failed = BatchItem(Path("b.png"), "b.png", "error", error="not an image")
    summary = RunSummary.of([ok, ok, failed])
    assert summary.counts_line() == "3 scans: 2 classified, 0 not assessed, 1 failed"
    assert summary.counts_line({"meningioma": "Meningioma"}, per_class=True) == (
        "3 scans: 2 classified (Meningioma 2), 0 not assessed, 1 failed")
    assert summary.failures == [(Path("b.png"), "not an image")]


def test_heatmap_files_are_written_for_assessed_scans_only(classifier, tmp_path):
    from app.core.reports.heatmap_files import HeatmapFiles

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(80))).save(folder / "axial.png")
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")  # not a brain MRI: not assessed
    sink = HeatmapFiles(tmp_path / "maps")
    items = []
    with ResultPipeline([sink]) as pipeline:
        for item in run_batch([folder], classifier):
            pipeline.write(item)
            items.append(item)
    assessed = [i.path.stem for i in items if i.prediction is not None and i.prediction.assessed]
    assert len(assessed) < len(items)  # the noise was refused, so the rule is at stake
    written = sorted(p.name.split("_")[0] for p in (tmp_path / "maps").glob("*.png"))
    assert written == sorted(assessed) and sink.written == len(assessed)
