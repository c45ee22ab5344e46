"""Training data: layouts, reading JPG/PNG/DICOM through the app's loader, split, leakage audit.

No TensorFlow here: these run in seconds.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import data, leakage
from training.phantoms import PHANTOM_CLASSES, iter_phantoms, phantom, write_phantoms


def test_class_folder_layout(tmp_path):
    write_phantoms(tmp_path, 2, size=48)
    layout = data.find_layout(tmp_path)
    assert layout.kind == "class-folders"
    assert layout.class_names == PHANTOM_CLASSES
    assert layout.test_root is None


def test_kaggle_layout_is_recognised(tmp_path):
    write_phantoms(tmp_path, 3, size=48, test_per_class=2)
    (tmp_path / "Training").rename(tmp_path / "training")  # any letter case
    layout = data.find_layout(tmp_path)
    assert layout.kind == "kaggle"
    assert layout.train_root.name == "training" and layout.test_root.name == "Testing"
    assert layout.class_names == ("glioma", "meningioma", "notumor", "pituitary")
    test = data.load_samples(layout.test_root, layout.class_names, 32, relative_to=tmp_path)
    assert len(test) == 8 and test.paths[0].startswith("Testing/")


def test_binary_yes_no_layout_and_hidden_files_ignored(tmp_path):
    for name in ("yes", "no"):
        (tmp_path / name).mkdir()
        Image.fromarray(phantom("glioma" if name == "yes" else "notumor", size=40)).save(tmp_path / name / "a.png")
    (tmp_path / ".cache").mkdir()
    (tmp_path / "yes" / ".DS_Store").write_bytes(b"\0\1junk")
    layout = data.find_layout(tmp_path)
    assert layout.class_names == ("no", "yes")
    samples = data.load_samples(tmp_path, layout.class_names, 32)
    assert samples.labels.tolist() == [0, 1] and samples.failures == []


def test_layout_errors_are_explained(tmp_path):
    (tmp_path / "only").mkdir()
    with pytest.raises(data.DataError, match="one sub-folder per class"):
        data.find_layout(tmp_path)
    with pytest.raises(data.DataError, match="not a folder"):
        data.find_layout(tmp_path / "missing")


def test_dicom_jpg_and_png_inputs_are_all_read(tmp_path, mni_series_dir, mni_jpg, mni_png):
    """Real MRI (MNI template) as a 16-bit DICOM series, a JPG and a PNG, plus 8-bit phantom DICOMs."""
    shutil.copytree(mni_series_dir, tmp_path / "notumor" / "series")
    shutil.copy(mni_jpg, tmp_path / "notumor")
    shutil.copy(mni_png, tmp_path / "notumor")
    write_phantoms(tmp_path / "dcm", 2, size=48, fmt="dcm")
    shutil.move(tmp_path / "dcm" / "glioma", tmp_path / "glioma")
    (tmp_path / "glioma" / "broken.dcm").write_bytes(b"not a dicom file at all")

    samples = data.load_samples(tmp_path, ("glioma", "notumor"), 64)
    n_series = len(list(mni_series_dir.iterdir()))
    assert samples.counts(("glioma", "notumor")) == {"glioma": 2, "notumor": n_series + 2}
    assert samples.images.shape == (n_series + 4, 64, 64, 3) and samples.images.dtype == np.uint8
    assert [p for p, _ in samples.failures] == ["glioma/broken.dcm"]
    # Every image has content (a brain, not a blank frame) and grey inputs become equal RGB channels.
    assert all(img.std() > 10 for img in samples.images)
    assert np.array_equal(samples.images[..., 0], samples.images[..., 2])


def test_images_match_the_shared_preprocessing(tmp_path, mni_png):
    """Training sees exactly app.core.model.preprocess.to_model_input of the loader's display image."""
    from app.core.scans.loading import load_scans
    from app.core.model.preprocess import to_model_input

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(mni_png, tmp_path / "a")
    samples = data.load_samples(tmp_path, ("a", "b"), 72)
    expected = to_model_input(load_scans(mni_png)[0].display, 72, 72)
    assert np.array_equal(samples.images[0].astype(np.float32) * np.float32(1 / 255), expected)


def test_stratified_split_is_per_class_seeded_and_disjoint():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 5 + [3] * 2)
    train, val = data.stratified_split(labels, 0.2, seed=7)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(labels)
    assert np.bincount(labels[val]).tolist() == [10, 6, 1, 1]
    again = data.stratified_split(labels, 0.2, seed=7)
    other = data.stratified_split(labels, 0.2, seed=8)
    assert np.array_equal(val, again[1]) and not np.array_equal(val, other[1])


def test_class_weights_balance_the_classes():
    weights = data.class_weights(np.array([0] * 30 + [1] * 10), 3)
    assert weights[0] * 30 == pytest.approx(weights[1] * 10)
    assert weights[0] == pytest.approx(40 / (3 * 30)) and weights[2] == 1.0


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def test_perceptual_hash_separates_copies_from_distinct_slices():
    """The margins behind DEFAULT_NEAR_THRESHOLD: altered copies stay within it, distinct
    phantoms (which look far more alike than distinct patients) stay well outside it."""
    images = [img for _, _, img in iter_phantoms(12, size=160, seed=3)]
    hashes = np.stack([data.perceptual_hash(img) for img in images])
    distinct = leakage.hamming(hashes, hashes)[np.triu_indices(len(images), 1)]
    assert distinct.min() > leakage.DEFAULT_NEAR_THRESHOLD
    for img in images[:12]:
        copies = [
            _jpeg(img, 70),
            np.asarray(Image.fromarray(img).resize((128, 128))),
            np.clip(img.astype(int) + 12, 0, 255).astype(np.uint8),
        ]
        h = data.perceptual_hash(img)[None]
        for copy in copies:
            assert leakage.hamming(h, data.perceptual_hash(copy)[None])[0, 0] <= leakage.DEFAULT_NEAR_THRESHOLD


def test_leakage_audit_finds_planted_exact_and_near_duplicates(tmp_path):
    write_phantoms(tmp_path, 6, size=96, test_per_class=3)
    layout = data.find_layout(tmp_path)
    train = data.load_samples(layout.train_root, layout.class_names, 48, relative_to=tmp_path)
    train_idx, val_idx = data.stratified_split(train.labels, 0.25, seed=0)
    splits = {"train": train.subset(train_idx), "validation": train.subset(val_idx)}
    # Exact: a training image's pixels under another name and format (lossless); near: re-encoded JPEG.
    first, second = (tmp_path / splits["train"].paths[i] for i in (0, -1))
    Image.open(first).save(tmp_path / "Testing" / "glioma" / "copy.bmp")
    Image.fromarray(_jpeg(np.asarray(Image.open(second)), 80)).save(tmp_path / "Testing" / "pituitary" / "near.png")
    test = data.load_samples(layout.test_root, layout.class_names, 48, relative_to=tmp_path)
    splits["test"] = test
    # Plant a duplicate of a training image in validation too.
    val = splits["validation"]
    splits["validation"] = data.Samples(
        np.concatenate([val.images, splits["train"].images[1:2]]), np.r_[val.labels, splits["train"].labels[1:2]],
        val.paths + ["validation-copy.png"], val.sha256 + splits["train"].sha256[1:2],
        np.concatenate([val.phash, splits["train"].phash[1:2]]),
    )

    cleaned, report = leakage.audit(splits)

    found = {(m.split, Path(m.path).name, m.kind) for m in report.matches}
    assert ("test", "copy.bmp", "exact") in found
    assert ("test", "near.png", "near") in found
    assert ("validation", "validation-copy.png", "exact") in found
    # Only the planted images leak: distinct phantoms are not flagged.
    assert len(report.matches) == 3
    assert len(cleaned["test"]) == len(test) - 2 and len(cleaned["validation"]) == len(val)
    assert len(cleaned["train"]) == len(splits["train"])
    summary = report.to_dict()["summary"]
    assert summary["removed"] == {"validation": 1, "test": 2}
    assert summary["pairs"]["test~train"] == {"exact": 1, "near": 1}


def test_within_split_duplicates_are_counted():
    images = [img for _, _, img in iter_phantoms(2, size=64, seed=1)]
    images.append(images[0].copy())
    hashes = np.stack([data.perceptual_hash(i) for i in images])
    samples = data.Samples(
        np.zeros((len(images), 1, 1, 3), np.uint8), np.zeros(len(images), np.int64),
        [f"{i}.png" for i in range(len(images))], [data.display_sha256(i) for i in images], hashes,
    )
    assert leakage.within_duplicates(samples, leakage.DEFAULT_NEAR_THRESHOLD) == 1


def test_crop_option_reaches_the_loader(tmp_path, mni_png):
    """--crop trains on the app's brain crop: the brain fills more of the model input."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    shutil.copy(mni_png, tmp_path / "a")
    plain = data.load_samples(tmp_path, ("a", "b"), 64).images[0]
    cropped = data.load_samples(tmp_path, ("a", "b"), 64, crop=True).images[0]
    assert (cropped[..., 0] < 10).mean() < (plain[..., 0] < 10).mean() - 0.05
