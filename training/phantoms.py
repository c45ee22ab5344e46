"""Synthetic brain-MRI phantoms: a labelled data set that needs no download and no patient.

Each image is an axial "slice": a bright skull ring around grey brain tissue with a little
texture, two dark ventricles, and (except for ``notumor``) one bright lesion whose place and
look define the class, loosely after how the four Kaggle classes present:

glioma
    intra-axial, inside a hemisphere away from the skull: an irregular ring-enhancing mass
    with a dark (necrotic) centre.
meningioma
    extra-axial: a round, evenly bright mass pressed against the inner skull.
pituitary
    small, bright, on the midline low in the slice (the sella turcica).
notumor
    no lesion.

The phantoms exist to test that the training pipeline can learn *something* real (a CNN must
use shape and position, not a global intensity cue), not to stand in for MRI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

PHANTOM_CLASSES: tuple[str, ...] = ("glioma", "meningioma", "notumor", "pituitary")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0  # [-1, 1]
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return yy, xx


def _smooth_noise(rng: np.random.Generator, size: int, cells: int = 8) -> np.ndarray:
    """Low-frequency texture in [-1, 1]: a coarse random grid, bilinearly upsampled."""
    from PIL import Image

    coarse = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BILINEAR))


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = (dx * c + dy * s) / rx
    v = (-dx * s + dy * c) / ry
    return u * u + v * v  # < 1 inside


def phantom(label: str, *, size: int = 128, rng: np.random.Generator | None = None) -> np.ndarray:
    """One uint8 HxW phantom slice of class ``label`` (one of PHANTOM_CLASSES)."""
    if label not in PHANTOM_CLASSES:
        raise ValueError(f"unknown phantom class {label!r}: use one of {PHANTOM_CLASSES}")
    rng = rng if rng is not None else np.random.default_rng()
    yy, xx = _grid(size)
    # Head: an ellipse with random size, aspect, tilt and offset.
    ry, rx = rng.uniform(0.78, 0.9), rng.uniform(0.62, 0.74)
    tilt = rng.uniform(-0.15, 0.15)
    cy, cx = rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04)
    head = _ellipse(yy, xx, cy, cx, ry, rx, tilt)
    skull_in = 0.86  # inner skull at 0.86^2 of the head ellipse's normalised radius^2
    image = np.zeros((size, size), np.float32)
    brain = head < skull_in**2
    image[(head < 1.0) & ~brain] = rng.uniform(0.68, 0.78)  # skull / scalp ring
    tissue = rng.uniform(0.38, 0.48) + 0.06 * _smooth_noise(rng, size, 10)
    image[brain] = tissue[brain]
    # Ventricles: two dark crescents either side of the midline.
    for side in (-1.0, 1.0):
        vent = _ellipse(yy, xx, cy - 0.05, cx + side * 0.1 * rx, 0.2 * ry, 0.06 * rx, tilt + side * 0.35)
        image[vent < 1.0] = rng.uniform(0.08, 0.15)

    def at(v: float, u: float) -> tuple[float, float]:
        """Head-relative (v down, u right, both in [-1, 1]) → image coordinates."""
        c, s = np.cos(tilt), np.sin(tilt)
        return cy + v * ry * c + u * rx * s, cx + u * rx * c - v * ry * s

    if label == "glioma":
        side = rng.choice([-1.0, 1.0])
        ly, lx = at(rng.uniform(-0.45, 0.25), side * rng.uniform(0.35, 0.5))
        r = rng.uniform(0.13, 0.19)
        wobble = 1.0 + 0.25 * _smooth_noise(rng, size, 5)
        d = _ellipse(yy, xx, ly, lx, r * rng.uniform(0.8, 1.2), r, rng.uniform(0, np.pi)) / wobble
        image[(d < 1.0) & brain] = rng.uniform(0.85, 1.0)  # enhancing rim
        image[(d < 0.45) & brain] = rng.uniform(0.2, 0.3)  # necrotic core
        oedema = (d >= 1.0) & (d < 1.8) & brain
        image[oedema] = image[oedema] * 0.8 + 0.12
    elif label == "meningioma":
        angle = rng.uniform(0.0, 2 * np.pi)
        r = rng.uniform(0.15, 0.2)
        # Centre just inside the inner skull: a broad-based mass bulging into the brain.
        reach = skull_in - 0.6 * r / min(rx, ry)
        ly, lx = at(np.sin(angle) * reach, np.cos(angle) * reach)
        d = _ellipse(yy, xx, ly, lx, r * rng.uniform(0.8, 1.0), r * rng.uniform(1.1, 1.4), angle + np.pi / 2)
        image[(d < 1.0) & brain] = rng.uniform(0.9, 1.0)
    elif label == "pituitary":
        ly, lx = at(rng.uniform(0.48, 0.6), rng.uniform(-0.04, 0.04))
        r = rng.uniform(0.08, 0.11)
        d = _ellipse(yy, xx, ly, lx, r * 0.8, r * rng.uniform(1.0, 1.4))
        image[d < 1.0] = rng.uniform(0.85, 1.0)

    image += rng.normal(0.0, 0.02, image.shape).astype(np.float32)  # acquisition noise
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def iter_phantoms(
    per_class: int, *, size: int = 128, seed: int = 0, classes: tuple[str, ...] = PHANTOM_CLASSES
) -> Iterator[tuple[str, int, np.ndarray]]:
    """Yields (class name, index within class, image) for ``per_class`` images of each class."""
    rng = np.random.default_rng(seed)
    for index in range(per_class):
        for label in classes:
            yield label, index, phantom(label, size=size, rng=rng)


def write_phantoms(
    out_dir: Path,
    per_class: int,
    *,
    size: int = 128,
    seed: int = 0,
    fmt: str = "png",
    test_per_class: int = 0,
) -> dict[str, int]:
    """Writes ``out_dir/<class>/*.<fmt>`` (or the Kaggle layout ``Training/``, ``Testing/`` when
    ``test_per_class`` > 0). fmt: "png", "jpg" or "dcm". Returns images written per split."""
    from PIL import Image

    if fmt not in ("png", "jpg", "dcm"):
        raise ValueError(f"unknown phantom format {fmt!r}: use png, jpg or dcm")
    out_dir = Path(out_dir)
    splits = [("", per_class, seed)]
    if test_per_class > 0:
        splits = [("Training", per_class, seed), ("Testing", test_per_class, seed + 1_000_003)]
    counts: dict[str, int] = {}
    for split, n, split_seed in splits:
        root = out_dir / split if split else out_dir
        for label, index, image in iter_phantoms(n, size=size, seed=split_seed):
            folder = root / label
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{label}_{index:05d}.{fmt}"
            if fmt == "dcm":
                write_dicom(path, image)
            else:
                Image.fromarray(image).save(path, **({"quality": 95} if fmt == "jpg" else {}))
        counts[split or "all"] = n * len(PHANTOM_CLASSES)
    return counts


def write_dicom(path: Path, image: np.ndarray) -> None:
    """A minimal MR DICOM file holding a uint8 phantom slice (MONOCHROME2, 8-bit)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    ds = FileDataset(str(path), {}, file_meta=FileMetaDataset())
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "MR", "Phantom", "PHANTOM"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = image.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)  # adds the preamble and the file meta's Media Storage UIDs
