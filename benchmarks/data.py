"""A benchmark folder of real-size scans: MNI template axial slices upscaled to 512x512,
half as JPEG files, half as 16-bit MR DICOM series (25 slices each), in chunks of 50 so that
the measurements can take turns chunk by chunk on a shared machine."""

from __future__ import annotations

import datetime
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
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    rng = np.random.default_rng(seed + 1)
    paths: list[Path] = []
    for start in range(0, count, SERIES_LENGTH):
        n = min(SERIES_LENGTH, count - start)
        sub = folder / f"series_{start // SERIES_LENGTH:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
        for k in range(n):
            z = 40 + k * 4
            stored = np.round(slice_512(z, rng) * 16.0).astype(np.uint16)
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            path = sub / f"IM{k:04d}.dcm"
            ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_ref
            ds.Modality, ds.PatientName, ds.PatientID = "MR", "Bench^Mark", "BENCH"
            ds.StudyDate = datetime.date(2026, 1, 1).strftime("%Y%m%d")
            ds.SeriesDescription = "T1 AX benchmark"
            ds.InstanceNumber = k + 1
            ds.ImageOrientationPatient = [1, 0, 0, 0, -1, 0]
            ds.ImagePositionPatient = [0.0, 0.0, float(z)]
            ds.PixelSpacing, ds.SliceThickness = [0.45, 0.45], 1.0
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows, ds.Columns = stored.shape
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.RescaleSlope, ds.RescaleIntercept = 1, 0
            ds.WindowCenter, ds.WindowWidth = 2048, 4096
            ds.PixelData = stored.tobytes()
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
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
