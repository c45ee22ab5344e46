"""DICOM files → scans: decode any common transfer syntax, then Modality LUT → VOI → display.

pydicom reads the file and pylibjpeg's codecs (libjpeg, openjpeg) decode compressed pixel data;
RLE and deflate are native to pydicom. The size guard reads Rows × Columns × frames from the
header and refuses oversized images before any pixel is decoded. Errors are mapped to the
specific ``ScanLoadError`` subclasses with messages a clinician can act on.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from app.core.scans import windowing
from app.core.errors import (
    ImageTooLargeError,
    MissingDecoderError,
    NoPixelDataError,
    NotAnImageError,
    ScanLoadError,
    TruncatedFileError,
    UnsupportedScanError,
)
from app.core.scans.images import MAX_FILE_PIXELS, MAX_PIXELS, too_large_message
from app.core.scans.scan import Scan, ScanMetadata

DEFLATED_UID = b"1.2.840.10008.1.2.1.99"
# pydicom inflates a deflated dataset whole, in memory, before reading it: allow what the pixel limit
# allows (16-bit samples) plus room for the header, refuse the rest (a deflate bomb: ~1000:1).
MAX_INFLATED_BYTES = 2 * MAX_FILE_PIXELS + (64 << 20)
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima", ""})
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
GREY = ("MONOCHROME1", "MONOCHROME2")

# Which package decodes which compressed syntax (pydicom names them by UID keyword prefix).
_DECODER_PACKAGES = (
    ("JPEGLS", ("pylibjpeg", "pylibjpeg-libjpeg")),
    ("HTJ2K", ("pylibjpeg", "pylibjpeg-openjpeg")),
    ("JPEG2000", ("pylibjpeg", "pylibjpeg-openjpeg")),
    ("JPEG", ("pylibjpeg", "pylibjpeg-libjpeg")),
    ("RLE", ("pylibjpeg", "pylibjpeg-rle")),
)


def looks_like_dicom(head: bytes) -> bool:
    """"DICM" after the 128-byte preamble, or a preamble-less dataset starting with group 0002/0008."""
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    group_le, group_be = int.from_bytes(head[:2], "little"), int.from_bytes(head[:2], "big")
    return group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008)


def read_dataset(path: Path, *, stop_before_pixels: bool = False) -> Dataset:
    """Parse a DICOM file (or only its header), mapping parser failures to ``ScanLoadError``s."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise ScanLoadError("The file could not be read (it may have been moved or be unreadable).", path) from exc
    if not looks_like_dicom(head):
        raise NotAnImageError(path=path)
    refuse_deflate_bomb(path)
    try:
        ds = pydicom.dcmread(path, force=head[128:132] != b"DICM", stop_before_pixels=stop_before_pixels)
        _fill_missing_transfer_syntax(ds)
        return ds
    except InvalidDicomError as exc:
        raise NotAnImageError(path=path) from exc
    except EOFError as exc:
        raise TruncatedFileError(path=path) from exc
    except Exception as exc:  # pydicom raises many types on malformed headers
        raise ScanLoadError("The DICOM file is damaged and cannot be read.", path) from exc


def refuse_deflate_bomb(path: Path, limit: int = MAX_INFLATED_BYTES) -> None:
    """Raise ``ImageTooLargeError`` when a Deflated Explicit VR file inflates past ``limit`` bytes.

    The inflated size is counted in 16 MB steps and nothing is kept, so the check itself needs
    little memory; damaged deflate data is left for pydicom to report.
    """
    try:
        with open(path, "rb") as fh:
            if DEFLATED_UID not in fh.read(8192):
                return
            from pydicom.filereader import _read_file_meta_info, read_preamble

            fh.seek(0)
            read_preamble(fh, True)
            _read_file_meta_info(fh)
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            total = 0
            while chunk := fh.read(1 << 20):
                while chunk:
                    total += len(inflater.decompress(chunk, 1 << 24))
                    if total > limit:
                        raise ImageTooLargeError(
                            f"The DICOM file is compressed (deflate) and would expand to more than "
                            f"{limit // (1 << 20)} MB, too large to open safely. It may be damaged or "
                            "not a medical image.", path)
                    chunk = inflater.unconsumed_tail
    except ImageTooLargeError:
        raise
    except Exception:  # noqa: BLE001 - unreadable or damaged: pydicom's read reports it
        return


def _fill_missing_transfer_syntax(ds: Dataset) -> None:
    """Old (ACR-NEMA style) files without file meta: record the encoding pydicom detected, so
    their uncompressed pixel data can be decoded."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return
    syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax


def metadata_from_dataset(ds: Dataset) -> ScanMetadata:
    """The report fields of a dataset (header only is enough)."""
    return ScanMetadata(
        patient_name=_text(ds.get("PatientName")),
        patient_id=_text(ds.get("PatientID")),
        patient_birth_date=_text(ds.get("PatientBirthDate")),
        patient_sex=_text(ds.get("PatientSex")),
        study_date=_text(ds.get("StudyDate")),
        study_description=_text(ds.get("StudyDescription")),
        series_description=_text(ds.get("SeriesDescription")),
        modality=_text(ds.get("Modality")),
        pixel_spacing=_pixel_spacing(ds),
        image_plane=image_plane(_orientation(ds)),
        institution=_text(ds.get("InstitutionName")),
        study_instance_uid=_text(ds.get("StudyInstanceUID")),
        series_instance_uid=_text(ds.get("SeriesInstanceUID")),
        sop_instance_uid=_text(ds.get("SOPInstanceUID")),
    )


def check_size(ds: Dataset, path: Path, *, max_pixels: int = MAX_PIXELS, max_file_pixels: int = MAX_FILE_PIXELS) -> None:
    """Refuse images whose declared size is beyond the limits, before decoding (bomb guard)."""
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = _frame_count(ds)
    if rows * cols > max_pixels or rows * cols * frames > max_file_pixels:
        raise ImageTooLargeError(too_large_message(rows, cols, frames), path)


def check_decoder(ds: Dataset, path: Path) -> None:
    """Raise ``MissingDecoderError`` when the transfer syntax's decoder is not installed."""
    from pydicom.pixels import get_decoder

    syntax = _transfer_syntax(ds)
    if syntax is None or not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise UnsupportedScanError(
            f"The image is compressed as {syntax.name}, which BrainLens cannot decode.", path
        ) from exc
    if not decoder.is_available:
        raise _missing_decoder(syntax, path)


def load_dicom(path: Path, ds: Dataset | None = None) -> list[Scan]:
    """One scan per frame of a DICOM file. Raises a ``ScanLoadError`` subclass."""
    path = Path(path)
    ds = read_dataset(path) if ds is None else ds
    try:
        return _scans_from_dataset(ds, path)
    except ScanLoadError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(path=path) from exc
    except Exception as exc:  # pydicom parses values lazily: a malformed element fails here
        raise ScanLoadError("The DICOM file is damaged and cannot be read.", path) from exc


def _scans_from_dataset(ds: Dataset, path: Path) -> list[Scan]:
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        if _expects_pixels(ds):  # an image whose file ends before (or inside) its pixel data
            raise TruncatedFileError(path=path)
        raise NoPixelDataError(path=path)
    check_size(ds, path)
    check_decoder(ds, path)
    metadata = metadata_from_dataset(ds)
    frames = _decode_frames(ds, path)
    count = len(frames)
    shared_window = _shared_default_window(frames, ds) if count > 1 else None
    scans = []
    for index, raw in enumerate(frames):
        pixels, display, window, inverted = pixels_to_display(raw, ds, shared_window, frame=index)
        scans.append(Scan(
            source=path, pixels=pixels, display=display, metadata=metadata, window=window,
            frame=index if count > 1 else None, frame_count=count if count > 1 else None,
            series_uid=metadata.series_instance_uid, inverted=inverted,
        ))
    return scans


def pixels_to_display(
    raw: np.ndarray, ds: Dataset, default_window: tuple[float, float] | None = None, *, frame: int | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None, bool]:
    """One decoded frame → (float32 pixels, uint8 display, window used, inverted?).

    Grey: Modality LUT → VOI LUT Sequence, else the first window preset, else
    ``default_window``, else a robust 0.5–99.5 percentile window of this frame →
    MONOCHROME1 / INVERSE presentation inverted. Enhanced multi-frame objects use ``frame``'s
    own rescale and window from the per-frame functional groups.
    Colour (RGB, YBR already converted to RGB by the decoder, palette colour): no LUTs,
    scaled to 8 bits by the stored bit depth.
    """
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        rgb = np.asarray(apply_color_lut(raw, ds), dtype=np.float32)
        bits = 16 if rgb.max(initial=0) > 255 else 8
        return rgb, _scale_to_uint8(rgb, bits), None, False
    if raw.ndim == 3:  # RGB / YBR (converted by pydicom)
        bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
        rgb = raw.astype(np.float32)
        return rgb, _scale_to_uint8(rgb, bits), None, False
    pixels = windowing.apply_modality_lut(raw, ds, frame=frame)
    display, window = _voi(pixels, ds, default_window, frame)
    inverted = (photometric == "MONOCHROME1") != (str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE")
    if inverted:
        display = windowing.invert(display)
    return pixels, display, window, inverted


def _shared_default_window(frames: list[np.ndarray], ds: Dataset) -> tuple[float, float] | None:
    """One percentile window for all frames of a file without a window, so frames compare."""
    if frames[0].ndim != 2 or windowing.window_from_dataset(ds) is not None:
        return None
    stride = max(len(frames) // 64, 1)  # a sample of frames is enough for percentiles
    sample = np.stack([windowing.apply_modality_lut(frames[i], ds, frame=i) for i in range(0, len(frames), stride)])
    return windowing.percentile_window(sample)


def _voi(
    pixels: np.ndarray, ds: Dataset, default_window: tuple[float, float] | None = None, frame: int | None = None
) -> tuple[np.ndarray, tuple[float, float] | None]:
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        from pydicom.pixels import apply_voi

        item = ds.VOILUTSequence[0]
        bits = int(item.LUTDescriptor[2]) if "LUTDescriptor" in item else 16
        out = np.asarray(apply_voi(pixels.astype(np.float64), ds, index=0), dtype=np.float32)
        return _scale_to_uint8(out, bits), None
    window = windowing.window_from_dataset(ds, frame) or default_window or windowing.percentile_window(pixels)
    return windowing.apply_window(pixels, *window, function=str(ds.get("VOILUTFunction", "LINEAR"))), window


def _decode_frames(ds: Dataset, path: Path) -> list[np.ndarray]:
    from pydicom.pixels import iter_pixels

    syntax = _transfer_syntax(ds)
    try:
        return [np.asarray(frame) for frame in iter_pixels(ds)]
    except MemoryError as exc:
        raise ImageTooLargeError(path=path) from exc
    except (ValueError, EOFError) as exc:
        text = str(exc).lower()
        if "less than expected" in text or "truncated" in text or "missing" in text or isinstance(exc, EOFError):
            raise TruncatedFileError(path=path) from exc
        raise ScanLoadError("The DICOM image data is damaged and cannot be read.", path) from exc
    except (RuntimeError, NotImplementedError) as exc:
        name = syntax.name if syntax is not None else "an unknown format"
        if "missing" in str(exc).lower() and "plugin" in str(exc).lower():
            raise _missing_decoder(syntax, path) from exc
        raise UnsupportedScanError(
            f"The image is compressed as {name} and none of the installed decoders could read it "
            "(the data may be damaged or use an unusual variant of the format).",
            path,
        ) from exc
    except Exception as exc:
        raise ScanLoadError("The DICOM image data is damaged and cannot be read.", path) from exc


def _missing_decoder(syntax: Any, path: Path) -> MissingDecoderError:
    keyword = getattr(syntax, "keyword", "") or ""
    packages = next((pkgs for prefix, pkgs in _DECODER_PACKAGES if keyword.startswith(prefix)), ("pylibjpeg",))
    name = getattr(syntax, "name", str(syntax))
    return MissingDecoderError(
        f"The image is compressed as {name}, and the decoder for it is not installed. "
        f"Install the Python package(s) {', '.join(packages)} (pip install {' '.join(packages)}) and try again.",
        path, syntax=name, packages=packages,
    )


def _expects_pixels(ds: Dataset) -> bool:
    """True for an image object: image attributes present, an image SOP class, or nothing at all
    parsed after the file meta (pydicom drops a dataset cut inside an element)."""
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else None)
    sop_name = getattr(sop_class, "name", "") or ""
    return "Rows" in ds or "Image Storage" in sop_name or "Dose Storage" in sop_name or len(ds) == 0


def _transfer_syntax(ds: Dataset):
    meta = getattr(ds, "file_meta", None)
    return meta.get("TransferSyntaxUID") if meta is not None else None


def _frame_count(ds: Dataset) -> int:
    try:
        return max(int(ds.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


def _scale_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    if bits <= 8:
        return np.clip(np.round(arr), 0, 255).astype(np.uint8)
    return np.clip(np.round(arr * (255.0 / float(2**bits - 1))), 0, 255).astype(np.uint8)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def image_plane(orientation: Any) -> str | None:
    """"axial", "coronal" or "sagittal" when the slice normal (row x column direction cosines of
    ImageOrientationPatient) lies within about 37 degrees of that axis, else "oblique"; None when
    the orientation is missing or malformed."""
    try:
        values = [float(v) for v in orientation]
    except (TypeError, ValueError):
        return None
    if len(values) != 6 or not all(np.isfinite(values)):
        return None
    normal = np.cross(values[:3], values[3:])
    length = float(np.linalg.norm(normal))
    if length < 1e-6:
        return None
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) / length < 0.8:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _orientation(ds: Dataset) -> Any:
    value = ds.get("ImageOrientationPatient")
    if value is None:
        item = windowing.functional_group_item(ds, "PlaneOrientationSequence")
        value = item.get("ImageOrientationPatient") if item is not None else None
    return value


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    value = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if value is None:
        item = windowing.functional_group_item(ds, "PixelMeasuresSequence")
        value = item.get("PixelSpacing") if item is not None else None
    try:
        return (float(value[0]), float(value[1])) if value is not None and len(value) >= 2 else None
    except (TypeError, ValueError):
        return None
