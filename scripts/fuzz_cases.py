"""The fuzz cases: real seed files, the byte and header mutations applied to them, and decompression bombs.

Seeds are pydicom's bundled DICOM files, MNI template slices as PNG/JPG/TIFF (8 and 16 bit), scikit-image's
multi-page TIFF, a folder holding a DICOM series, and volumes (``scripts/fuzz_volumes.py``: the template as
NIfTI, nilearn's test.mgz, a sagittal DICOM volume). ``scripts/fuzz.py`` runs them.
"""

from __future__ import annotations

import io
import random
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

PYDICOM_SEEDS = (
    "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "CT_small.dcm", "JPEG-lossy.dcm", "JPGExtended.dcm",
    "JPEG2000.dcm", "image_dfl.dcm", "examples_palette.dcm", "examples_ybr_color.dcm", "SC_rgb_rle_32bit_2frame.dcm",
    "SC_rgb_jpeg_dcmtk.dcm", "rtdose.dcm", "ExplVR_BigEndNoMeta.dcm", "no_meta.dcm",
)


@dataclass(frozen=True)
class Case:
    name: str  # seed + mutation, for the report
    data: bytes  # file content ("" for a folder case)
    suffix: str
    folder: tuple[tuple[str, bytes], ...] = ()  # (relative name, content) for a folder case


# -- seeds ----------------------------------------------------------------------------------------
def seeds() -> list[Case]:
    """The real files the mutations start from."""
    import numpy as np
    from PIL import Image

    from tests import mri_data

    found = []
    for name in PYDICOM_SEEDS:
        try:
            found.append(Case(name, mri_data.pydicom_file(name).read_bytes(), ".dcm"))
        except FileNotFoundError:
            continue
    axial = mri_data.to_uint8(mri_data.axial_slice(80))
    for fmt, suffix, image in (
        ("PNG", ".png", Image.fromarray(axial)),
        ("JPEG", ".jpg", Image.fromarray(axial).convert("RGB")),
        ("TIFF", ".tif", Image.fromarray((mri_data.axial_slice(90) * 200).astype(np.uint16))),
        ("PNG", ".png", Image.fromarray((mri_data.axial_slice(100) * 200).astype(np.uint16))),
        ("BMP", ".bmp", Image.fromarray(axial)),
    ):
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        found.append(Case(f"MNI {fmt} {image.mode}", buffer.getvalue(), suffix))
    import skimage

    multipage = Path(skimage.__file__).parent / "data" / "multipage.tif"
    if multipage.exists():
        found.append(Case("multipage.tif", multipage.read_bytes(), ".tif"))
    from scripts.fuzz_volumes import volume_seeds

    return found + volume_seeds(Case)


def series_folder_seed() -> Case:
    with tempfile.TemporaryDirectory() as tmp:
        from tests import mri_data

        paths = mri_data.write_dicom_series(Path(tmp), [60, 75, 90], shuffle_files=False)
        files = tuple((p.name, p.read_bytes()) for p in paths)
    return Case("MNI DICOM series folder", b"", "", files)


# -- mutations ------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    kind = rng.choice(("flip", "cut", "splice", "repeat", "zero", "insert", "flips"))
    if not out:
        return bytes(rng.randbytes(rng.randint(1, 64))), "random"
    at = rng.randrange(len(out))
    if kind == "flip":
        out[at] = rng.randrange(256)
    elif kind == "flips":
        for _ in range(rng.randint(2, 40)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == "cut":
        out = out[: at]
    elif kind == "splice":
        end = min(len(out), at + rng.randint(1, 4096))
        del out[at:end]
    elif kind == "repeat":
        end = min(len(out), at + rng.randint(1, 2048))
        out[at:at] = out[at:end] * rng.randint(1, 8)
    elif kind == "zero":
        end = min(len(out), at + rng.randint(1, 4096))
        out[at:end] = bytes(end - at)
    else:
        out[at:at] = rng.randbytes(rng.randint(1, 64))
    return bytes(out), f"{kind}@{at}"


INTERESTING = (0, 1, 2, 3, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 63, 64, 255, 256, 4095, 32767, 32768, 65535)


def mutate_dicom_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Re-write one image attribute with an interesting value (pydicom keeps the rest)."""
    import pydicom
    from pydicom.uid import UID

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:  # noqa: BLE001 - an unparseable seed: fall back to bytes
        return mutate_bytes(data, rng)
    keyword = rng.choice(("Rows", "Columns", "NumberOfFrames", "BitsAllocated", "BitsStored", "HighBit",
                          "SamplesPerPixel", "PixelRepresentation", "PlanarConfiguration", "PhotometricInterpretation",
                          "TransferSyntaxUID", "RescaleSlope", "WindowWidth", "PixelData"))
    try:
        if keyword == "TransferSyntaxUID":
            syntaxes = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
                        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                        "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
                        "1.2.840.10008.1.2.5", "1.2.3.4.5")
            ds.file_meta.TransferSyntaxUID = UID(rng.choice(syntaxes))
            value = ds.file_meta.TransferSyntaxUID
        elif keyword == "PhotometricInterpretation":
            value = rng.choice(("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "XYZ", ""))
            ds.PhotometricInterpretation = value
        elif keyword == "PixelData":
            value = len(ds.PixelData) if "PixelData" in ds else 0
            ds.PixelData = bytes(ds.PixelData)[: rng.randint(0, max(1, value))] if value else rng.randbytes(16)
        elif keyword in ("RescaleSlope", "WindowWidth"):
            value = rng.choice(("0", "-1", "1e308", "nan", "inf", "abc", "1\\2\\3"))
            setattr(ds, keyword, value)
        else:
            value = rng.choice(INTERESTING + (rng.randint(0, 1 << 16), 1 << 20, 1 << 30))
            setattr(ds, keyword, value)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        return buffer.getvalue(), f"{keyword}={value}"
    except Exception:  # noqa: BLE001 - a value pydicom refuses to write
        return mutate_bytes(data, rng)


def png_with_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims another size (CRC fixed so the header itself is valid)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return data
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return data[:16] + bytes(ihdr) + crc + data[33:]


def mutate_image_header(case: Case, rng: random.Random) -> tuple[bytes, str]:
    width, height = rng.choice(((0, 1), (1, 0), (1, 1), (65535, 65535), (1 << 31 - 1, 2), (100000, 100000), (30000, 7000)))
    if case.suffix == ".png":
        return png_with_size(case.data, width, height), f"IHDR {width}x{height}"
    if case.suffix == ".tif":
        return tiff_with_size(case.data, width, height), f"TIFF {width}x{height}"
    return mutate_bytes(case.data, rng)


def tiff_with_size(data: bytes, width: int, height: int) -> bytes:
    """Patch ImageWidth (256) and ImageLength (257) of the first IFD (little-endian TIFF)."""
    if not data.startswith(b"II*\x00"):
        return data
    out = bytearray(data)
    ifd = struct.unpack_from("<I", out, 4)[0]
    count = struct.unpack_from("<H", out, ifd)[0]
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", out, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            if kind == 3:
                struct.pack_into("<HHIHH", out, entry, tag, 3, 1, min(value, 65535), 0)
            else:
                struct.pack_into("<HHII", out, entry, tag, 4, 1, value)
    return bytes(out)


def bombs(heavy: bool = True) -> list[Case]:
    """Decompression bombs and oversized declarations (each must be refused, fast, in bounded memory).
    ``heavy`` adds those that take seconds to build (real 144-256 MP images, a 1.5 GB deflate bomb)."""
    import numpy as np
    from PIL import Image

    cases = []
    small = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(small, "PNG")
    cases.append(Case("bomb: PNG IHDR 100000x100000", png_with_size(small.getvalue(), 100_000, 100_000), ".png"))
    cases.append(Case("bomb: PNG IHDR 20000x12000 (240 MP)", png_with_size(small.getvalue(), 20_000, 12_000), ".png"))
    tif = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tif, "TIFF")
    cases.append(Case("bomb: TIFF header 60000x60000", tiff_with_size(tif.getvalue(), 60_000, 60_000), ".tif"))
    if heavy:
        big = io.BytesIO()  # a real 12000 x 12000 PNG of zeros: 144 MP in ~140 kB
        Image.new("L", (12_000, 12_000)).save(big, "PNG")
        cases.append(Case("bomb: PNG 12000x12000 zeros (real data)", big.getvalue(), ".png"))
        deflated = io.BytesIO()
        Image.new("L", (16_000, 16_000)).save(deflated, "TIFF", compression="tiff_adobe_deflate")
        cases.append(Case("bomb: TIFF deflate 16000x16000 zeros", deflated.getvalue(), ".tif"))
    cases += dicom_bombs(1_500_000_000 if heavy else 600_000_000)
    from scripts.fuzz_volumes import volume_bombs

    return cases + volume_bombs(Case, heavy)


def dicom_bombs(deflated_bytes: int = 1_500_000_000) -> list[Case]:
    import pydicom

    from tests import mri_data

    base = mri_data.pydicom_file("MR_small.dcm").read_bytes()
    cases = []
    for keyword, value in (("Rows", 65535), ("Columns", 65535), ("NumberOfFrames", 2_000_000)):
        ds = pydicom.dcmread(io.BytesIO(base))
        setattr(ds, keyword, value)
        buffer = io.BytesIO()
        ds.save_as(buffer)
        cases.append(Case(f"bomb: DICOM {keyword}={value}", buffer.getvalue(), ".dcm"))
    data = deflate_bomb(deflated_bytes)
    cases.append(Case(f"bomb: deflated DICOM, {deflated_bytes / 1e9:g} GB inflated from {len(data) / 1e6:.1f} MB", data, ".dcm"))
    return cases


def deflate_bomb(inflated_bytes: int) -> bytes:
    """A Deflated Explicit VR Little Endian DICOM whose dataset inflates to ``inflated_bytes``:
    the header says 64 x 64 but PixelData holds far more (zeros compress ~1000:1)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, MRImageStorage, generate_uid

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, generate_uid()
    ds.Modality, ds.Rows, ds.Columns = "MR", 64, 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    plain = io.BytesIO()
    from pydicom.filewriter import write_dataset

    from pydicom.filebase import DicomBytesIO

    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    # PixelData (7FE0,0010) OB with an explicit length, then the zeros, streamed through zlib.
    header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, inflated_bytes)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunks = [compressor.compress(body.getvalue() + header)]
    zeros = bytes(1 << 24)
    left = inflated_bytes
    while left > 0:
        chunks.append(compressor.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    chunks.append(compressor.flush())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    from pydicom.filewriter import write_file_meta_info

    plain.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(plain, meta, enforce_standard=True)
    return plain.getvalue() + b"".join(chunks)


def generate(count: int, seed: int) -> list[Case]:
    """``count`` mutated cases (deterministic for a seed): byte and header mutations of every seed."""
    rng = random.Random(seed)
    base = seeds()
    cases = []
    for index in range(count):
        case = base[index % len(base)]
        roll = rng.random()
        if case.suffix == ".dcm" and roll < 0.35:
            data, what = mutate_dicom_header(case.data, rng)
        elif case.suffix in (".nii", ".nii.gz") and roll < 0.35:
            from scripts.fuzz_volumes import mutate_nifti_header

            data, what = mutate_nifti_header(case.data, rng)
        elif case.suffix in (".png", ".tif") and roll < 0.15:
            data, what = mutate_image_header(case, rng)
        else:
            data, what = case.data, ""
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                data, step = mutate_bytes(data, rng)
                what = f"{what} {step}".strip()
        cases.append(Case(f"{case.name} [{what}]", data, case.suffix if rng.random() > 0.05 else rng.choice((".dcm", ".png", ""))))
    return cases


def mutate_folder(folder: Case, rng: random.Random) -> Case:
    files = list(folder.folder)
    index = rng.randrange(len(files))
    data, what = mutate_dicom_header(files[index][1], rng) if rng.random() < 0.5 else mutate_bytes(files[index][1], rng)
    files[index] = (files[index][0], data)
    if rng.random() < 0.3:
        files.append(("notes.txt", b"not a scan"))
    return Case(f"{folder.name} [{files[index][0]}: {what}]", b"", "", tuple(files))
