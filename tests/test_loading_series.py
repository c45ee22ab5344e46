"""Folders and series: MNI DICOM series in shuffled file order, mixed folders, bad files."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

from app.core.scans import loading
from app.core.errors import EmptyFolderError, NoPixelDataError, ScanLoadError
from app.core.scans.loading import LoadFailure, iter_sources, load_folder, load_scans, load_source
from app.core.scans.series import SliceHeader, group_series, slice_normal
from tests import mri_data
from tests.loading_fixtures import write_small_dicom


def positions_along_normal(scans) -> list[float]:
    out = []
    for scan in scans:
        ds = pydicom.dcmread(scan.source, stop_before_pixels=True)
        out.append(float(np.dot(slice_normal(tuple(ds.ImageOrientationPatient)), [float(v) for v in ds.ImagePositionPatient])))
    return out


def test_series_comes_back_sorted_by_position(mni_series_dir):
    result = load_folder(mni_series_dir)
    assert result.failures == [] and len(result.scans) == 20
    (source,) = result.sources
    assert source.kind == "series" and source.label.endswith('"T1 AX MNI" (20 slices)')
    distances = positions_along_normal(result.scans)
    assert distances == sorted(distances) and len(set(distances)) == 20
    names = [s.source.name for s in result.scans]
    assert names != sorted(names)  # file names are shuffled: the order comes from geometry
    assert [s.slice_index for s in result.scans] == list(range(20))
    assert {s.series_length for s in result.scans} == {20}
    assert result.scans[3].label.endswith("— slice 4/20")
    assert len({s.series_uid for s in result.scans}) == 1
    # The pixels are the MNI slices themselves (z = 40..135 step 5, windowed 128*16 ± 128*16).
    z_of_first = 40 + 5 * (19 - 0)  # normal (0,0,-1): the first slice is the highest z
    np.testing.assert_allclose(result.scans[0].pixels, np.round(mri_data.axial_slice(z_of_first) * 16), atol=0.5)


def test_second_series_in_the_same_folder_stays_separate(tmp_path, mni_series_dir):
    folder = tmp_path / "study"
    shutil.copytree(mni_series_dir, folder / "t1")
    mri_data.write_dicom_series(folder / "t1b", range(60, 70, 2), series_description="T1 second", seed=3)
    for path in (folder / "t1b").iterdir():  # the same folder, interleaved names
        path.rename(folder / "t1" / f"B{path.name}")
    result = load_folder(folder)
    assert sorted(len(s.paths) for s in result.sources) == [5, 20]
    assert len(result.scans) == 25
    by_series = {}
    for scan in result.scans:
        by_series.setdefault(scan.series_uid, []).append(scan)
    assert sorted(len(v) for v in by_series.values()) == [5, 20]
    for scans in by_series.values():
        distances = positions_along_normal(scans)
        assert distances == sorted(distances)
        assert [s.slice_index for s in scans] == list(range(len(scans)))


def test_instance_number_then_name_fallbacks(tmp_path):
    headers = [
        SliceHeader(tmp_path / "b.dcm", "1.2", None, None, 2, (4, 4)),
        SliceHeader(tmp_path / "a.dcm", "1.2", None, None, 3, (4, 4)),
        SliceHeader(tmp_path / "c.dcm", "1.2", None, None, 1, (4, 4)),
    ]
    (group,) = group_series(headers)
    assert [p.name for p in group.paths] == ["c.dcm", "b.dcm", "a.dcm"] and group.sorted_by == "instance"
    no_numbers = [SliceHeader(tmp_path / n, "1.2", None, None, None, (4, 4)) for n in ("IM10", "IM2", "IM1")]
    (group,) = group_series(no_numbers)
    assert [p.name for p in group.paths] == ["IM1", "IM2", "IM10"] and group.sorted_by == "name"


def test_one_uid_with_two_orientations_is_two_stacks(tmp_path):
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    headers = [SliceHeader(tmp_path / f"ax{i}", "9.9", axial, (0.0, 0.0, float(i)), i, (4, 4)) for i in range(3)]
    headers += [SliceHeader(tmp_path / f"sag{i}", "9.9", sagittal, (float(i), 0.0, 0.0), i, (4, 4)) for i in range(2)]
    assert sorted(len(g.paths) for g in group_series(headers)) == [2, 3]


@pytest.fixture()
def mixed_folder(tmp_path, mni_series_dir, mni_png):
    folder = tmp_path / "mixed"
    shutil.copytree(mni_series_dir, folder / "series")
    shutil.copy(mni_png, folder / "axial.png")
    (folder / "letter.dcm").write_text("Dear colleague, ...\n")
    (folder / "notes.txt").write_text("not a scan, and not pretending to be one\n")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    write_small_dicom(folder / "report.dcm", np.zeros((4, 4), np.uint16), with_pixels=False)
    data = mri_data.pydicom_file("MR_small.dcm").read_bytes()
    (folder / "cut.dcm").write_bytes(data[: len(data) // 2])
    return folder


def test_folder_with_bad_files_yields_good_scans_and_reasons(mixed_folder):
    result = load_folder(mixed_folder)
    assert len(result.scans) == 21  # 20 slices + the PNG
    reasons = {f.path.name: f.reason for f in result.failures}
    assert set(reasons) == {"letter.dcm", "report.dcm", "cut.dcm"}
    assert "not an image or DICOM" in reasons["letter.dcm"]
    assert "no image data" in reasons["report.dcm"]
    assert "incomplete" in reasons["cut.dcm"]
    assert all(isinstance(f.error, ScanLoadError) for f in result.failures)


def test_recursive_false_stays_in_the_top_folder(mixed_folder):
    result = load_folder(mixed_folder, recursive=False)
    assert [s.source.name for s in result.scans] == ["axial.png"]


def test_empty_folder(tmp_path):
    with pytest.raises(EmptyFolderError, match="no images or DICOM"):
        load_folder(tmp_path)
    (tmp_path / "bad.dcm").write_text("nope")
    with pytest.raises(EmptyFolderError, match="None of the 1 file") as info:
        load_folder(tmp_path)
    assert [f.path.name for f in info.value.failures] == ["bad.dcm"]


def test_load_scans_on_a_folder_and_a_single_series_file(mni_series_dir):
    assert len(load_scans(mni_series_dir)) == 20
    one = sorted(mni_series_dir.iterdir())[0]
    (scan,) = load_scans(one)
    assert scan.slice_index is None and scan.label == one.name


def test_iter_sources_streams_explicit_files_and_folders(mixed_folder, mni_png, tmp_path):
    stray = tmp_path / "stray.xyz"
    stray.write_text("?")
    sources = list(iter_sources([mixed_folder, mni_png, stray]))
    kinds = sorted((s.kind, len(s.paths)) for s in sources)
    assert ("series", 20) in kinds and kinds.count(("image", 1)) == 2
    assert ("unknown", 1) in kinds  # letter.dcm and the explicit stray file are reported...
    assert not any(s.path.name in ("notes.txt", ".DS_Store") for s in sources)  # ...folder junk is not
    assert any(s.path == stray for s in sources)


def test_a_file_given_twice_loads_once(mni_series_dir):
    one = sorted(mni_series_dir.iterdir())[0]
    sources = list(iter_sources([mni_series_dir, one]))
    assert [len(s.paths) for s in sources] == [20]


def test_load_source_collects_bad_slices_when_asked(tmp_path, mni_series_dir):
    folder = tmp_path / "series"
    shutil.copytree(mni_series_dir, folder)
    (series,) = list(iter_sources(folder))
    victim = series.paths[5]
    victim.write_bytes(victim.read_bytes()[:-1000])  # header intact, pixel data cut short
    with pytest.raises(ScanLoadError):
        load_source(series)
    failures: list[LoadFailure] = []
    scans = load_source(series, failures=failures)
    assert len(scans) == 19 and [f.path for f in failures] == [victim]
    assert 5 not in [s.slice_index for s in scans] and {s.series_length for s in scans} == {20}


def test_crop_option_crops_display_and_pixels_together(mni_png):
    (full,) = load_scans(mni_png)
    (cropped,) = load_scans(mni_png, crop=True, crop_margin=2)
    assert cropped.cropped and cropped.display.shape == cropped.pixels.shape
    assert cropped.display.shape[0] < full.display.shape[0] and cropped.display.shape[1] < full.display.shape[1]


def test_unexpected_exceptions_become_scan_load_errors(monkeypatch, mni_png):
    monkeypatch.setattr(loading.images, "load_image", lambda path: 1 / 0)
    with pytest.raises(ScanLoadError, match="unexpected problem") as info:
        load_scans(mni_png)
    assert not isinstance(info.value, NoPixelDataError)
