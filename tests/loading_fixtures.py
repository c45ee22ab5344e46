"""Small hand-made DICOM files for loader tests (MONOCHROME1, signed pixels, rescale, windows)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from tests import dicom_files


def write_small_dicom(
    path: Path,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    voi_function: str | None = None,
    with_pixels: bool = True,
    rows_cols: tuple[int, int] | None = None,
    frames: int | None = None,
    patient_name: str = "Doe^Jane",
    modality: str = "MR",
) -> Path:
    """Writes ``stored`` (uint8/uint16/int16, HxW or HxWx3) as an explicit-VR little-endian DICOM.

    Without pixels and without ``rows_cols`` it writes a report instead (Basic Text SR, no image
    attributes at all)."""
    from pydicom.uid import BasicTextSRStorage, MRImageStorage, generate_uid

    report = not with_pixels and rows_cols is None
    ds = dicom_files.new_dataset(path, BasicTextSRStorage if report else MRImageStorage)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "SR" if report else modality, patient_name, "PID-42"
    if report:
        return dicom_files.write(ds)
    dicom_files.set_pixels(ds, stored, photometric=photometric, frames=frames, rows_cols=rows_cols,
                           with_pixels=with_pixels)
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function:
        ds.VOILUTFunction = voi_function
    return dicom_files.write(ds)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width × height pixels (a decompression-bomb stand-in)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path
