"""Volumes through the batch, the CLI, the CSV/JSON and the PDF (the tiny test model, real volumes)."""

from __future__ import annotations

import re

import csv
import json
import shutil
import subprocess
from pathlib import Path

import nibabel
import numpy as np
import pytest

from app import cli
from app.core.model.inference import Classifier
from app.core.runs.batch import BatchItem, run_batch
from app.core.runs.volumes import VolumeSummary, volume_planes
from app.core.scans.volume import is_empty_slice
from tests import mri_data, volume_data
from tests.model_fixtures import build_tiny_model, tiny_card, tiny_model

Z_SLICES = range(0, 189, 12)  # 16 axial slices 12 mm apart; the lowest and the top three are outside the head


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A folder mixing a NIfTI volume (stored LPS), a sagittal DICOM volume and an axial DICOM series."""
    root = tmp_path_factory.mktemp("study")
    volume_data.small_mni(root / "mni.nii.gz", Z_SLICES, step=4, axcodes=("L", "P", "S"))
    data = np.asarray(nibabel.load(volume_data.mni_path()).dataobj)[::8, ::4, ::8]
    volume_data.write_sagittal_series(root / "T1 SAG", data, (8.0, 4.0, 8.0))
    mri_data.write_dicom_series(root / "axial", range(60, 100, 10))
    return root


def test_a_volume_gives_one_item_per_slice_inside_the_head_and_a_summary(classifier, study):
    results = list(run_batch([study / "mni.nii.gz"], classifier, volume_heatmaps=True))
    items = [r for r in results if isinstance(r, BatchItem)]
    summary = results[-1]
    assert isinstance(summary, VolumeSummary) and len(results) == len(items) + 1
    assert {i.plane for i in items} == {"axial"} and all(i.ok for i in items)
    assert summary.skipped == 4 and len(items) == 12  # the empty slices are not reported as findings
    assert sorted(i.slice_index for i in items) == list(range(1, 13))
    assert all(not is_empty_slice(i.scan.display) for i in items)
    profile = summary.profiles["axial"]
    assert len(profile) == 16 and profile[0] is None and profile[-1] is None
    best = max((i for i in items if i.prediction.assessed), key=lambda i: i.prediction.p_tumour, default=None)
    if best is not None:
        assert summary.top_slice_index == best.slice_index and summary.top_plane == "axial"
    assert sum(summary.class_counts.values()) == sum(i.prediction.assessed for i in items)
    assert summary.heatmap.shape == summary.volume.shape and summary.heatmap[:, :, 0].max() == 0.0


def test_planes_come_from_the_model_card(tmp_path):
    axial_only = tiny_card()
    assert axial_only.training_planes == ("axial",)
    assert volume_planes(axial_only, "all") == ("axial",)
    three = tiny_card(training_planes=("sagittal", "axial", "coronal"))
    assert volume_planes(three, "all") == ("axial", "coronal", "sagittal")
    assert volume_planes(three, "axial") == ("axial",)
    from app.core.model.card import ModelCard

    assert ModelCard.from_json(three.to_json()).training_planes == ("sagittal", "axial", "coronal")


def test_plane_all_classifies_every_trained_plane_without_calling_them_out_of_plane(tmp_path, study):
    model = build_tiny_model(tmp_path / "three.onnx", card=tiny_card(training_planes=("axial", "coronal", "sagittal")))
    results = list(run_batch([study / "mni.nii.gz"], Classifier(model, device="cpu"), plane="all"))
    items = [r for r in results if isinstance(r, BatchItem)]
    assert {i.plane for i in items} == {"axial", "coronal", "sagittal"}
    assert not any("not_axial_plane" in i.prediction.ood_reasons for i in items)
    summary = results[-1]
    assert set(summary.profiles) == {"axial", "coronal", "sagittal"}
    # the axial-only model, asked for every plane, stays axial: it was never trained on the others
    only_axial = [r for r in run_batch([study / "mni.nii.gz"], Classifier(build_tiny_model(tmp_path / "a.onnx"),
                                       device="cpu"), plane="all") if isinstance(r, BatchItem)]
    assert {i.plane for i in only_axial} == {"axial"}


@pytest.fixture(scope="module")
def cli_run(tiny_model, study, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    args = cli.build_parser().parse_args([str(study), "--csv", str(out / "r.csv"), "--json", str(out / "r.json"),
                                          "--heatmaps", str(out / "maps"), "--report", str(out / "r.pdf"),
                                          "--model", str(tiny_model), "--device", "cpu", "--no-audit"])
    lines: list[str] = []

    class Out:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    code = cli.classify(args, out=Out(), err=Out())
    return code, "".join(lines), out


def test_cli_classifies_a_folder_mixing_nifti_and_dicom(cli_run):
    code, text, out = cli_run
    assert code == cli.EXIT_OK
    assert "volume mni.nii.gz (axial slices, 4 empty skipped): 12 slices:" in text
    assert 'volume T1 SAG/ "T1 SAG 3D"' in text and "series axial/" in text
    with open(out / "r.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    nifti_rows = [r for r in rows if r["path"].endswith("mni.nii.gz")]
    assert len(nifti_rows) == 12 and {r["plane"] for r in nifti_rows} == {"axial"}
    assert sorted(int(r["slice"]) for r in nifti_rows) == list(range(2, 14))  # 1-based, empty ones absent
    assert all(r["plane"] == "" for r in rows if "/axial/" in r["path"])
    series = json.loads((out / "r.json").read_text())["series"]
    volume = next(s for s in series if s["label"] == "mni.nii.gz")
    assert volume["kind"] == "volume" and volume["skipped_empty_slices"] == 4
    assert len(volume["p_tumour_by_slice"]["axial"]) == 16


def test_cli_heatmaps_are_nifti_volumes_in_the_inputs_geometry(cli_run, study):
    _, _, out = cli_run
    maps = sorted(p.name for p in (out / "maps").iterdir())
    assert "mni_gradcam.nii.gz" in maps and "T1 SAG_gradcam.nii.gz" in maps
    assert not any(name.startswith("mni") and name.endswith(".png") for name in maps)  # no PNG per volume slice
    saved, source = nibabel.load(out / "maps" / "mni_gradcam.nii.gz"), nibabel.load(study / "mni.nii.gz")
    assert saved.shape == source.shape and np.allclose(saved.affine, source.affine)
    heat = np.asarray(saved.dataobj)
    assert 0.0 <= heat.min() and heat.max() <= 1.0 and heat.max() > 0
    assert np.all(heat[:, :, 0] == 0.0)  # the skipped slice below the head has no map


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_report_has_a_volume_section_with_its_curve(cli_run):
    _, _, out = cli_run
    text = subprocess.run(["pdftotext", "-layout", str(out / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Volumes (2)" in text and "P(tumour) by axial slice" in text
    assert "4 empty slice(s) skipped" in text
    # the folder's one axial DICOM series is a series; the two volumes are not also listed as series
    assert re.search(r"DICOM series\s+1\n", text) and "Series (1)" in text
