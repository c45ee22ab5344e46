"""A benchmark folder of real-size scans: MNI template axial slices upscaled to 512x512,
half as JPEG files, half as 16-bit MR DICOM series (25 slices each), in chunks of 50 so that
the measurements can take turns chunk by chunk on a shared machine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = 512
SERIES_LENGTH = 25


def slice_512(z: int, rng: np.random.Generator) -> np.ndarray:
    """An axial MNI slice padded to a square, upscaled to 512x512, with a little scanner-like noise."""
    from tests import mri_data

    image = mri_data.axial_slice(int(z))
    rows, cols = image.shape
    side = max(rows, cols)
    square = np.zeros((side, side), np.float32)
    square[(side - rows) // 2 : (side - rows) // 2 + rows, (side - cols) // 2 : (side - cols) // 2 + cols] = image
    big = cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    big = big + rng.normal(0.0, 2.0, big.shape).astype(np.float32) * (big > 5)
    return np.clip(big, 0, 255)


def write_jpegs(folder: Path, count: int, seed: int = 0) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = slice_512(40 + (i * 7 + seed * 3) % 100, rng).astype(np.uint8)
        path = folder / f"scan_{i:04d}.jpg"
        Image.fromarray(pixels).convert("RGB").save(path, quality=92)
        paths.append(path)
    return paths


def write_dicom_series(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` slices as series of SERIES_LENGTH files (one sub-folder each), 12-bit MR."""
    from tests import mri_data

    rng = np.random.default_rng(seed + 1)
    paths: list[Path] = []
    for start in range(0, count, SERIES_LENGTH):
        n = min(SERIES_LENGTH, count - start)
        paths += mri_data.write_dicom_series(
            folder / f"series_{start // SERIES_LENGTH:03d}", [40 + k * 4 for k in range(n)],
            patient_name="Bench^Mark", patient_id="BENCH", series_description="T1 AX benchmark",
            shuffle_files=False, slice_of=lambda z: slice_512(z, rng), pixel_spacing=0.45,
        )
    return paths


CHUNK = 2 * SERIES_LENGTH


def build_folder(root: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` scans under ``root`` in chunks of 50 (``chunk_NN/jpg``: 25 JPEGs,
    ``chunk_NN/dicom``: one 25-slice series); returns the chunk folders."""
    chunks = []
    for index, start in enumerate(range(0, count, CHUNK)):
        n = min(CHUNK, count - start)
        folder = root / f"chunk_{index:02d}"
        write_jpegs(folder / "jpg", n // 2, seed * 1000 + index)
        write_dicom_series(folder / "dicom", n - n // 2, seed * 1000 + index)
        chunks.append(folder)
    return chunks
