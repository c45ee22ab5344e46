"""Labelled scan folders → in-memory arrays, read through the app's own scan loader.

Accepted layouts (class names are the sub-folder names, sorted, as Keras' flow_from_directory did):

* ``DATA_DIR/<class>/...`` — one sub-folder per class (4-class tumour sets, binary yes/no sets);
* the Kaggle "Brain Tumor MRI Dataset" layout ``DATA_DIR/Training/<class>``,
  ``DATA_DIR/Testing/<class>`` (``Train``/``Test`` too, any letter case).

Every file goes through ``app.core.scans.loading.load_scans`` (JPG, PNG, TIFF, DICOM — one sample per
frame), so training sees exactly what the app shows and classifies: the Scan's ``display`` image,
converted by ``app.core.model.preprocess.to_model_input``. Samples are kept as uint8 [N, S, S, 3] (the
resized 0-255 RGB; the model's [0, 1] floats are ``x * (1/255)``, bit-identical to
``to_model_input`` with value range (0, 1)) so the Kaggle set fits in about 1 GB at 224 px.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.model.preprocess import to_model_input

TRAIN_NAMES = ("training", "train")
TEST_NAMES = ("testing", "test")


class DataError(ValueError):
    """The data folder cannot be used for training (message says why)."""


@dataclass(frozen=True)
class Layout:
    """Where the labelled images are: ``train_root`` always, ``test_root`` for a Kaggle layout."""

    train_root: Path
    test_root: Path | None
    class_names: tuple[str, ...]
    kind: str  # "class-folders" or "kaggle"


@dataclass
class Samples:
    """Loaded images of one split. ``paths`` are relative to the data folder ("a/b.dcm#3" = frame 3)."""

    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int64 [N]
    paths: list[str]
    sha256: list[str]  # of the display pixels (catches re-encoded copies too)
    phash: np.ndarray  # uint64 [N, 4]: 256-bit perceptual hash of the display image
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Sequence[int] | np.ndarray) -> Samples:
        index = np.asarray(index, dtype=np.int64)
        return Samples(
            self.images[index],
            self.labels[index],
            [self.paths[i] for i in index],
            [self.sha256[i] for i in index],
            self.phash[index],
        )

    def counts(self, class_names: Sequence[str]) -> dict[str, int]:
        bins = np.bincount(self.labels, minlength=len(class_names))
        return {name: int(bins[i]) for i, name in enumerate(class_names)}


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _named(folder: Path, names: tuple[str, ...]) -> Path | None:
    for child in _subdirs(folder):
        if child.name.lower() in names:
            return child
    return None


def find_layout(data_dir: Path) -> Layout:
    """Recognises the layout of ``data_dir`` and its class names; raises DataError if unusable."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} is not a folder")
    train_root, test_root, kind = data_dir, None, "class-folders"
    training = _named(data_dir, TRAIN_NAMES)
    if training is not None:
        train_root, test_root, kind = training, _named(data_dir, TEST_NAMES), "kaggle"
    class_names = tuple(p.name for p in _subdirs(train_root))
    if len(class_names) < 2:
        raise DataError(
            f"{train_root} needs one sub-folder per class (at least two), e.g. glioma/, notumor/; "
            f"found {list(class_names) or 'none'}"
        )
    if test_root is not None:
        extra = {p.name for p in _subdirs(test_root)} - set(class_names)
        if extra:
            raise DataError(f"{test_root} has classes not in {train_root}: {sorted(extra)}")
    return Layout(train_root, test_root, class_names, kind)


def list_files(root: Path, class_names: Sequence[str]) -> list[tuple[Path, int]]:
    """Every non-hidden file under ``root/<class>/`` (recursively), with its class index."""
    files = []
    for label, name in enumerate(class_names):
        folder = root / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
                files.append((path, label))
    return files


def _load_scans(path: Path, crop: bool, crop_margin: int) -> list:
    from app.core.scans.loading import load_scans

    return load_scans(path, crop=crop, crop_margin=crop_margin)


def display_sha256(display: np.ndarray) -> str:
    digest = hashlib.sha256(str(display.shape).encode())
    digest.update(np.ascontiguousarray(display).tobytes())
    return digest.hexdigest()


PHASH_SIZE = 16  # 16x16 DCT bits = 256-bit hash


def perceptual_hash(display: np.ndarray) -> np.ndarray:
    """256-bit DCT perceptual hash (imagehash.phash, hash_size 16) of the grey display image, as
    uint64 [4]. 16 rather than the default 8: 64-bit hashes put distinct but similar slices (and
    distinct phantoms) within a few bits of each other, while re-encoded, resized or re-windowed
    copies stay within ~8 of 256 bits (measured in tests/test_training_data.py)."""
    import imagehash
    from PIL import Image

    grey = display if display.ndim == 2 else display[..., :3].mean(axis=2).astype(np.uint8)
    bits = imagehash.phash(Image.fromarray(grey), hash_size=PHASH_SIZE).hash.flatten()
    return np.packbits(bits).view(">u8").astype(np.uint64)


def load_samples(
    root: Path,
    class_names: Sequence[str],
    img_size: int,
    *,
    crop: bool = False,
    crop_margin: int = 0,
    relative_to: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Samples:
    """Loads every scan under ``root/<class>/``; files the loader rejects are skipped and listed
    in ``failures`` with the loader's reason (a training run must not die on one bad file)."""
    from app.core.errors import BrainLensError

    files = list_files(Path(root), class_names)
    base = Path(relative_to) if relative_to is not None else Path(root)
    images, labels, paths, sha, phash, failures = [], [], [], [], [], []
    for done, (path, label) in enumerate(files, start=1):
        rel = path.relative_to(base).as_posix()
        try:
            scans = _load_scans(path, crop, crop_margin)
        except BrainLensError as exc:
            failures.append((rel, str(exc)))
            scans = []
        for scan in scans:
            model_input = to_model_input(scan.display, img_size, img_size, value_range=(0.0, 255.0))
            images.append(model_input.astype(np.uint8))
            labels.append(label)
            paths.append(rel if scan.frame is None else f"{rel}#{scan.frame}")
            sha.append(display_sha256(scan.display))
            phash.append(perceptual_hash(scan.display))
        if progress is not None:
            progress(done, len(files))
    if images:
        array = np.stack(images)
    else:
        array = np.zeros((0, img_size, img_size, 3), np.uint8)
    hashes = np.array(phash, np.uint64).reshape(-1, PHASH_SIZE * PHASH_SIZE // 64)
    return Samples(array, np.array(labels, np.int64), paths, sha, hashes, failures)


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): ``val_fraction`` of each class (at least one sample
    of every class with two or more), chosen with ``seed``; both sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"the validation fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * val_fraction))
        if val_fraction > 0 and len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(val, np.int64))


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Balanced weights n / (C * n_c) (scikit-learn's "balanced"); classes absent get 1.0."""
    counts = np.bincount(labels, minlength=num_classes)
    total = counts.sum()
    return {c: (float(total / (num_classes * counts[c])) if counts[c] else 1.0) for c in range(num_classes)}
