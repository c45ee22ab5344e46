"""Hand-made DICOM files for tests: the one dataset builder and Image Pixel writer that the DICOM
fixtures (tests.loading_fixtures, tests.mri_data, tests.volume_data) share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def new_dataset(path: Path, sop_class: str = MRImageStorage) -> FileDataset:
    """An empty DICOM file dataset for ``path``: explicit VR little endian, SOP class ``sop_class``
    and a fresh SOP Instance UID. ``write`` completes the file meta (the Media Storage UIDs from
    the dataset's) and the 128-byte preamble, as pydicom does for ``enforce_file_format``."""
    ds = FileDataset(str(path), {}, file_meta=FileMetaDataset())
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    return ds


def set_pixels(
    ds: FileDataset,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    frames: int | None = None,
    rows_cols: tuple[int, int] | None = None,
    with_pixels: bool = True,
) -> None:
    """The Image Pixel module for ``stored`` (HxW, HxWx3 colour, or frames x H x W with ``frames``).

    Bits allocated follow the dtype, bits stored are ``bits_stored`` (default: all of them), the
    sign follows the dtype's kind. ``rows_cols`` makes the header claim another size, and
    ``with_pixels=False`` leaves the Pixel Data out (both for broken-file tests)."""
    colour = stored.ndim == 3 and frames is None
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    shape = stored.shape[1:3] if frames else stored.shape[:2]
    ds.Rows, ds.Columns = rows_cols or shape
    if frames:
        ds.NumberOfFrames = frames
    allocated = stored.dtype.itemsize * 8
    bits = bits_stored or allocated
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, bits, bits - 1
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(stored).tobytes()


def write(ds: FileDataset) -> Path:
    """Saves ``ds`` as a DICOM file at the path it was made for; returns that path."""
    ds.save_as(ds.filename, enforce_file_format=True)
    return Path(ds.filename)
