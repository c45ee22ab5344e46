"""Volumes on real data: the MNI template and its reoriented copies, a sagittal DICOM series of it,
the EPI time series and test.mgz that nibabel and nilearn ship, and hostile files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pytest

from app.core.errors import ScanLoadError
from app.core.reports.nifti_heatmap import heatmap_name, write_heatmap_nifti
from app.core.runs.volumes import HeatmapVolume
from app.core.scans import nifti
from app.core.scans.loading import iter_sources, load_folder, load_scans, load_volume
from app.core.scans.volume import canonical_index, display_position, plane_labels
from app.core.scans.volume_dicom import stack_geometry
from tests import volume_data


@pytest.fixture(scope="module")
def ras_path(tmp_path_factory) -> Path:
    return volume_data.small_mni(tmp_path_factory.mktemp("ras") / "mni.nii.gz", step=2)


@pytest.fixture(scope="module")
def ras(ras_path):
    return nifti.load_volume(ras_path)


@pytest.fixture(scope="module")
def sagittal_series(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The template at 4 mm written as a DICOM series acquired sagittally (files shuffled)."""
    data = np.asarray(nibabel.load(volume_data.mni_path()).dataobj)[::4, ::4, ::4]
    folder = tmp_path_factory.mktemp("sag") / "T1 SAG"
    volume_data.write_sagittal_series(folder, data, (4.0, 4.0, 4.0))
    return folder, data


def axial_slices(volume, window=None):
    return [volume.display_slice("axial", k, window=window) for k in range(volume.slice_count("axial"))]


def test_mni_template_loads_in_three_planes_with_its_voxel_size(ras):
    assert ras.shape == (99, 117, 6) and ras.voxel_size == (2.0, 2.0, 15.0)
    assert ras.slice_count("coronal") == 117 and ras.slice_count("sagittal") == 99
    assert ras.display_slice("axial", 3).shape == (117, 99)  # anterior-posterior rows, left-right columns
    # 15 mm slices shown with square pixels: 6 slices become 45 rows of 2 mm in the coronal view
    assert ras.display_slice("coronal", 60).shape == (45, 99)
    assert ras.display_slice("sagittal", 50).shape == (45, 117)


def test_radiological_and_neurological_layouts_mirror_each_other(ras):
    radiological = ras.display_slice("axial", 3)
    neurological = ras.display_slice("axial", 3, convention="neurological")
    assert np.array_equal(radiological, neurological[:, ::-1])
    assert plane_labels("axial") == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert plane_labels("axial", "neurological")["left"] == "L"
    assert plane_labels("sagittal") == {"top": "S", "bottom": "I", "left": "A", "right": "P"}


def test_radiological_axial_slice_puts_the_patients_right_on_the_left(ras):
    # the right hemisphere (high x in RAS) shows on the left: mark it in the voxels and look
    marked = ras.data.copy()
    marked[-10:, :, 3] = marked.max() * 10
    from app.core.scans.volume import Volume

    copy = Volume(**{**ras.__dict__, "data": marked})
    image = copy.slice_pixels("axial", 3)
    assert image[:, :10].min() >= marked.max() and image[:, -10:].max() < marked.max()


@pytest.mark.parametrize("axcodes", [("L", "P", "S"), ("P", "S", "L"), ("A", "I", "R")])
def test_reoriented_copies_give_the_same_axial_slices(tmp_path, ras, axcodes):
    path = volume_data.small_mni(tmp_path / "copy.nii.gz", step=2, axcodes=axcodes)
    stored = nibabel.load(path)
    assert nibabel.aff2axcodes(stored.affine) == axcodes  # really stored in another voxel order
    copy = nifti.load_volume(path)
    for mine, theirs in zip(axial_slices(copy), axial_slices(ras)):
        assert np.array_equal(mine, theirs)
    assert np.allclose(copy.affine, ras.affine)


def test_an_oblique_affine_gives_the_same_slices_and_says_it_is_oblique(tmp_path, ras):
    copy = nifti.load_volume(volume_data.small_mni(tmp_path / "oblique.nii.gz", step=2, oblique_degrees=12))
    assert all(np.array_equal(a, b) for a, b in zip(axial_slices(copy), axial_slices(ras)))
    assert any("oblique (12°" in note for note in copy.notes)


def test_sagittal_dicom_series_becomes_a_volume_with_the_same_axial_slices(sagittal_series):
    folder, data = sagittal_series
    sources = list(iter_sources([folder]))
    assert [s.kind for s in sources] == ["volume"] and len(sources[0].paths) == data.shape[0]
    volume = load_volume(sources[0])
    assert volume.shape == data.shape and volume.voxel_size == pytest.approx((4.0, 4.0, 4.0))
    reference = nibabel.Nifti1Image(data.astype(np.float32), np.diag([4.0, 4.0, 4.0, 1.0]))
    nib_path = folder.parent / "reference.nii"
    nibabel.save(reference, nib_path)
    truth = nifti.load_volume(nib_path)
    from app.core.scans.windowing import apply_window

    for k in range(0, data.shape[2], 4):  # the series stores 16 x the value (a 12-bit range)
        mine = apply_window(volume.slice_pixels("axial", k) / 16.0, *truth.window).astype(int)
        theirs = truth.display_slice("axial", k).astype(int)
        assert np.abs(mine - theirs).max() <= 1
    scans = load_scans(folder)  # a folder holding the series opens as the volume's axial slices
    assert scans and {s.plane for s in scans} == {"axial"} and scans[0].volume.format == "dicom"


def test_dicom_stacks_that_are_not_a_regular_grid_are_refused_with_the_reason(tmp_path, sagittal_series):
    _, data = sagittal_series
    gap = tmp_path / "gap"
    volume_data.write_sagittal_series(gap, data[:12], (4.0, 4.0, 4.0), drop=5)
    with pytest.raises(ScanLoadError, match="a slice is missing"):
        load_volume(next(iter_sources([gap])))
    tilted = tmp_path / "tilted"
    volume_data.write_sagittal_series(tilted, data[:12], (4.0, 4.0, 4.0), tilt_mm=0.8)
    with pytest.raises(ScanLoadError, match="tilted"):
        load_volume(next(iter_sources([tilted])))
    orientations = [(0, 1, 0, 0, 0, -1)] * 2 + [(1, 0, 0, 0, 1, 0)]
    with pytest.raises(ScanLoadError, match="mixes slice orientations"):
        stack_geometry(orientations, [(0, 0, 0), (1, 0, 0), (2, 0, 0)], (1.0, 1.0))
    with pytest.raises(ScanLoadError, match="slices are unevenly spaced"):
        stack_geometry([(0, 1, 0, 0, 0, -1)] * 4, [(0, 0, 0), (-1, 0, 0), (-2.3, 0, 0), (-3.3, 0, 0)], (1.0, 1.0))


def test_epi_time_series_and_mgz_give_their_first_volume_and_say_so():
    epi = nifti.load_volume(volume_data.shipped_file("nibabel", "tests/data/example4d.nii.gz"))
    assert epi.shape == (128, 96, 24) and "first one is shown" in epi.notes[0]
    raw = np.asarray(nibabel.load(volume_data.shipped_file("nibabel", "tests/data/example4d.nii.gz")).dataobj)[..., 0]
    assert np.isclose(epi.data.sum(), raw.astype(np.float64).sum())  # slope/intercept and every voxel kept
    mgz = nifti.load_volume(volume_data.shipped_file("nilearn", "datasets/data/test.mgz"))
    assert sorted(mgz.shape) == [3, 4, 5] and mgz.format == "mgh"


def test_heatmap_volume_saved_as_nifti_lies_over_the_input(tmp_path):
    path = volume_data.small_mni(tmp_path / "lps.nii.gz", step=2, axcodes=("L", "P", "S"))
    volume = nifti.load_volume(path)
    heat = HeatmapVolume(volume.shape, volume.voxel_size)
    for k in range(volume.slice_count("axial")):
        heat.add("axial", k, volume.slice_pixels("axial", k) / 255.0)  # the scan itself as the "map"
    out = write_heatmap_nifti(tmp_path / heatmap_name(path), heat.result(), volume)
    assert out.name == "lps_gradcam.nii.gz"
    saved, source = nibabel.load(out), nibabel.load(path)
    assert saved.shape == source.shape and np.allclose(saved.affine, source.affine)
    assert np.allclose(np.asarray(saved.dataobj), np.asarray(source.dataobj) / 255.0, atol=1e-6)


def test_crosshair_mapping_round_trips(ras):
    for plane in ("axial", "coronal", "sagittal"):
        for voxel in [(10, 20, 2), (98, 0, 5), (0, 116, 0)]:
            row, col = display_position(plane, voxel, ras.shape, ras.voxel_size)
            index = voxel[{"axial": 2, "coronal": 1, "sagittal": 0}[plane]]
            assert canonical_index(plane, index, int(row), int(col), ras.shape, ras.voxel_size) == voxel


# -- hostile files ----------------------------------------------------------------------------------
def _header_with(path: Path, tmp_path: Path, name: str, **fields) -> Path:
    image = nibabel.load(path)
    header = image.header.copy()
    raw = bytearray(header.binaryblock)
    target = tmp_path / name
    data = np.asarray(image.dataobj)
    nibabel.save(nibabel.Nifti1Image(data, image.affine, header), target)
    blob = bytearray(target.read_bytes())
    for offset, value in fields.items():
        start = int(offset[1:])
        blob[start:start + len(value)] = value
    target.write_bytes(bytes(blob))
    del raw
    return target


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, ras_path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    plain = root / "plain.nii"
    nibabel.save(nibabel.load(ras_path), plain)
    files = {}
    whole = ras_path.read_bytes()
    (root / "truncated.nii.gz").write_bytes(whole[: len(whole) // 2])
    files["truncated_gzip"] = root / "truncated.nii.gz"
    raw = plain.read_bytes()
    (root / "short.nii").write_bytes(raw[: 352 + 1000])
    files["truncated_plain"] = root / "short.nii"
    dims = np.array([3, 0, 117, 6, 1, 1, 1, 1], "<i2").tobytes()  # a zero dimension
    files["zero_dimension"] = _header_with(plain, root, "zero.nii", o40=dims)
    huge = np.array([3, 32767, 32767, 32767, 1, 1, 1, 1], "<i2").tobytes()  # claims 140 TB of voxels
    files["huge_header"] = _header_with(plain, root, "huge.nii", o40=huge)
    nan = nibabel.load(ras_path).get_fdata().astype(np.float32)
    nan[40, 50, 3] = np.nan
    nibabel.save(nibabel.Nifti1Image(nan, nibabel.load(ras_path).affine), root / "nan.nii.gz")
    files["nan"] = root / "nan.nii.gz"
    inf = nan.copy()
    inf[40, 50, 3] = np.inf
    nibabel.save(nibabel.Nifti1Image(inf, nibabel.load(ras_path).affine), root / "inf.nii.gz")
    files["inf"] = root / "inf.nii.gz"
    (root / "garbage.nii.gz").write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    files["garbage_gzip"] = root / "garbage.nii.gz"
    two_d = nibabel.Nifti1Image(np.zeros((64, 1, 1), np.float32), np.eye(4))
    nibabel.save(two_d, root / "line.nii")
    files["wrong_dimensions"] = root / "line.nii"
    return files


@pytest.mark.parametrize("name, words", [
    ("truncated_gzip", "incomplete"), ("truncated_plain", "incomplete"), ("zero_dimension", "no voxels"),
    ("huge_header", "too large"), ("nan", "NaN or infinite"), ("inf", "NaN or infinite"),
    ("garbage_gzip", "header is not valid"), ("wrong_dimensions", "not 3-D"),
])
def test_hostile_volumes_get_a_clear_error(hostile, name, words):
    with pytest.raises(ScanLoadError, match=words) as caught:
        load_scans(hostile[name])
    assert type(caught.value).__name__.endswith("Error") and str(caught.value).endswith(".")


def test_a_folder_with_hostile_volumes_lists_each_with_its_reason(tmp_path, hostile, ras_path):
    for path in hostile.values():
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(ras_path, tmp_path / "good.nii.gz")
    result = load_folder(tmp_path)
    assert {s.source.name for s in result.scans} == {"good.nii.gz"}
    assert len(result.failures) == len(hostile) and all(f.reason for f in result.failures)
