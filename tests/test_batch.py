"""The batch generator and the CSV/JSON writers on real MRI files (MNI slices, DICOM series)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.runs.batch import BatchItem, SeriesSummary, run_batch
from app.core.model.inference import Classifier
from app.core.runs.progress import CancelToken, Progress
from app.core.reports.results_io import CsvResultWriter, csv_columns, write_csv, write_json
from tests import mri_data
from tests.model_fixtures import CLASSES, tiny_model


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, mni_series_dir) -> Path:
    """12 good JPG/PNG slices, a 20-slice DICOM series, a text file posing as a JPEG, and a truncated
    copy of one slice (its header survives, so it joins the series as a 21st slice that fails)."""
    root = tmp_path_factory.mktemp("mixed")
    for z in range(50, 110, 5):
        image = Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z)))
        image.save(root / f"axial_{z}.{'png' if z % 2 else 'jpg'}")
    shutil.copytree(mni_series_dir, root / "series")
    (root / "notes.jpg").write_text("this is not an image")
    good = next((root / "series").glob("*.dcm")).read_bytes()
    (root / "broken.dcm").write_bytes(good[: len(good) // 3])
    return root


def test_every_scan_gets_an_item_and_bad_files_do_not_stop_the_run(classifier, mixed_folder):
    items = list(run_batch([mixed_folder], classifier, batch_size=4))
    scans = [i for i in items if isinstance(i, BatchItem)]
    errors = {i.path.name: i.error for i in scans if i.status == "error"}
    assert sum(i.ok for i in scans) == 12 + 20
    assert set(errors) == {"notes.jpg", "broken.dcm"}
    assert "not an image" in errors["notes.jpg"] and "incomplete" in errors["broken.dcm"]
    for item in scans:
        if item.ok:
            assert item.prediction is not None and len(item.image_sha256) == 64
            assert item.scan is not None and item.prediction.source_shape == item.scan.shape


def test_series_slices_in_order_then_a_summary(classifier, mixed_folder):
    items = list(run_batch([mixed_folder / "series"], classifier, batch_size=3))
    slices, summary = items[:-1], items[-1]
    assert [i.slice_index for i in slices] == list(range(20))
    assert isinstance(summary, SeriesSummary)
    assert summary.slice_count == summary.classified + summary.not_assessed == 20 and summary.failed == 0
    assert summary.classified == sum(1 for i in slices if i.prediction.assessed)
    best = max(slices, key=lambda i: i.prediction.p_tumour if i.prediction.assessed else -1)
    assert summary.top_slice_index == best.slice_index
    assert summary.top_p_tumour == pytest.approx(best.prediction.p_tumour)
    counts = {}
    for i in slices:
        if i.prediction.assessed:
            counts[i.prediction.predicted_class] = counts.get(i.prediction.predicted_class, 0) + 1
    assert summary.class_counts == counts
    assert summary.majority_class == max(counts, key=counts.get)


def test_batched_results_equal_single_image_results(classifier, mixed_folder):
    by_8 = {(i.path, i.slice_index): i.prediction.probabilities
            for i in run_batch([mixed_folder], classifier, batch_size=8, workers=2) if isinstance(i, BatchItem) and i.ok}
    by_1 = {(i.path, i.slice_index): i.prediction.probabilities
            for i in run_batch([mixed_folder], classifier, batch_size=1, workers=1) if isinstance(i, BatchItem) and i.ok}
    assert by_8.keys() == by_1.keys()
    for key in by_8:
        np.testing.assert_allclose(by_8[key], by_1[key], atol=1e-5)


def test_progress_counts_files_to_the_end(classifier, mixed_folder):
    seen: list[Progress] = []
    list(run_batch([mixed_folder], classifier, on_progress=seen.append))
    assert seen[0].done == 0 and seen[-1].done == seen[-1].total == 12 + 20 + 2
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_cancel_mid_batch_stops_and_keeps_what_was_yielded(classifier, mixed_folder):
    token = CancelToken()
    kept = []
    for item in run_batch([mixed_folder], classifier, batch_size=2, cancel=token):
        kept.append(item)
        if len(kept) == 3:
            token.cancel()
    assert 3 <= len(kept) < 10  # at most the rest of the current batch
    assert all(isinstance(i, BatchItem) for i in kept[:3])


def test_keep_scans_false_drops_pixels(classifier, mni_png):
    (item,) = list(run_batch([mni_png], classifier, keep_scans=False))
    assert item.ok and item.scan is None and item.prediction is not None


def test_missing_path_is_an_error_item(classifier, tmp_path):
    (item,) = list(run_batch([tmp_path / "gone.png"], classifier))
    assert item.status == "error" and "does not exist" in item.error


def test_memory_does_not_hold_the_folder(classifier, mixed_folder):
    """Only a bounded number of decoded scans are alive at once when the consumer drops them."""
    import gc
    import weakref

    alive = []
    for item in run_batch([mixed_folder], classifier, batch_size=2, prefetch=1, keep_scans=True):
        if isinstance(item, BatchItem) and item.scan is not None:
            alive.append(weakref.ref(item.scan))
            item.scan = None
        gc.collect()
        assert sum(ref() is not None for ref in alive) <= 2 * 2 + 2
    assert len(alive) == 32


# -- CSV / JSON --------------------------------------------------------------------------------
def test_csv_has_the_issue_columns_one_row_per_scan(classifier, mixed_folder, tmp_path):
    out = tmp_path / "results.csv"
    rows = write_csv(run_batch([mixed_folder], classifier), out, CLASSES, classifier.model_sha256)
    with open(out, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [
            "path", "slice", "frame", "status", "error", "predicted_class", "confidence",
            "prob_glioma", "prob_meningioma", "prob_notumor", "prob_pituitary",
            "p_tumour", "flags", "image_sha256", "model_sha256", "plane",
            "raw_prob_glioma", "raw_prob_meningioma", "raw_prob_notumor", "raw_prob_pituitary",
        ]
        table = list(reader)
    assert rows == len(table) == 34
    ok = [r for r in table if r["status"] == "ok"]
    for r in ok:
        probs = [float(r[f"prob_{c}"]) for c in CLASSES]
        assert sum(probs) == pytest.approx(1.0, abs=2e-4)
        assert float(r["p_tumour"]) == pytest.approx(1 - float(r["prob_notumor"]), abs=2e-4)
        assert r["model_sha256"] == classifier.model_sha256 and r["error"] == ""
    slices = sorted(int(r["slice"]) for r in table if r["slice"])
    assert slices == list(range(1, 22))  # the broken copy is one of the 21 slices
    bad = [r for r in table if r["status"] == "error"]
    assert {Path(r["path"]).name for r in bad} == {"notes.jpg", "broken.dcm"}
    assert all(r["error"] and r["predicted_class"] == "" for r in bad)
    for r in table:  # a scan not assessed carries no figures; its raw output is only in raw_* columns
        if r["status"] == "not_assessed":
            figures = [r["predicted_class"], r["confidence"], r["p_tumour"], *(r[f"prob_{c}"] for c in CLASSES)]
            assert figures == [""] * len(figures) and "out_of_distribution" in r["flags"]
            assert sum(float(r[f"raw_prob_{c}"]) for c in CLASSES) == pytest.approx(1.0, abs=2e-4)


def test_csv_is_valid_after_a_crash_mid_run(classifier, mixed_folder, tmp_path):
    out = tmp_path / "partial.csv"
    writer = CsvResultWriter(out, CLASSES, classifier.model_sha256)
    for n, item in enumerate(run_batch([mixed_folder], classifier)):
        writer.write(item)
        if n == 4:
            break  # the process "dies" here: no close()
    with open(out, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 5 and all(r["model_sha256"] for r in table)
    writer.close()


def test_json_document(classifier, mixed_folder, tmp_path):
    out = tmp_path / "results.json"
    write_json(run_batch([mixed_folder], classifier), out, {"name": "tiny", "sha256": classifier.model_sha256})
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "brainlens-results" and doc["model"]["name"] == "tiny"
    summary = doc["summary"]
    assert len(doc["results"]) == 34 and summary["ok"] + summary.get("not_assessed", 0) == 32
    assert summary["error"] == 2
    (series,) = doc["series"]
    assert series["slice_count"] == 21 and series["classified"] + series["not_assessed"] == 20
    assert series["failed"] == 1
    assert 1 <= series["top_slice"] <= 21
    ok = next(r for r in doc["results"] if r["status"] == "ok")
    assert set(ok["probabilities"]) == set(CLASSES) and ok["assessed"] in (True, False)


def test_csv_columns_follow_the_card():
    assert csv_columns(("a", "b"))[7:9] == ["prob_a", "prob_b"]


def test_decode_workers_one_on_cpu_more_on_gpu(classifier):
    from types import SimpleNamespace

    from app.core.runs.batch import decode_workers

    assert decode_workers(classifier) == 1
    assert decode_workers(SimpleNamespace(providers=["CUDAExecutionProvider", "CPUExecutionProvider"])) >= 1


def test_a_model_failure_marks_that_batch_and_the_run_goes_on(tiny_model, mixed_folder):
    clf = Classifier(tiny_model, device="cpu")
    real, calls = clf.run, {"n": 0}

    def flaky(prepared):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("out of memory")
        return real(prepared)

    clf.run = flaky
    scans = [i for i in run_batch([mixed_folder], clf, batch_size=4) if isinstance(i, BatchItem)]
    failed = [i for i in scans if i.status == "error" and "model failed" in (i.error or "")]
    assert len(failed) == 4 and all(i.prediction is None for i in failed)
    assert sum(i.ok for i in scans) == 32 - 4
