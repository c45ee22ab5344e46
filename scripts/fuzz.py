"""Fuzz the scan loaders with mutated real files, each load in a worker with a time and memory limit.

Seeds are real files: pydicom's bundled DICOM (MR, CT, NM, US, secondary capture; uncompressed,
JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE, deflate; multi-frame, palette, YBR),
MNI template slices as PNG/JPG/TIFF (8 and 16 bit), scikit-image's multi-page TIFF, and a folder
holding a DICOM series. Mutations are byte-level (flips, cuts, splices, repeats) and structural
(DICOM header values such as Rows, Columns, NumberOfFrames, BitsAllocated and the transfer
syntax; PNG/TIFF image sizes), plus decompression bombs.

Every case must end as scans or a ``ScanLoadError`` with a non-empty message. Anything else is
reported: another exception ("crash"), no answer within the time limit ("hang"), the worker dying
or going over the memory limit ("memory").

    python scripts/fuzz.py --minutes 10                 # mutation fuzzing, 2 workers
    python scripts/fuzz.py --cases 300 --seed 1         # a fixed number of cases (what `make test` runs)
    python scripts/fuzz.py --engine atheris --minutes 10    # coverage-guided (atheris / libFuzzer)
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PYDICOM_SEEDS = (
    "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "CT_small.dcm", "JPEG-lossy.dcm", "JPGExtended.dcm",
    "JPEG2000.dcm", "image_dfl.dcm", "examples_palette.dcm", "examples_ybr_color.dcm", "SC_rgb_rle_32bit_2frame.dcm",
    "SC_rgb_jpeg_dcmtk.dcm", "rtdose.dcm", "ExplVR_BigEndNoMeta.dcm", "no_meta.dcm",
)
TIME_LIMIT_S = 20.0
MEMORY_LIMIT_MB = 3072


@dataclass(frozen=True)
class Case:
    name: str  # seed + mutation, for the report
    data: bytes  # file content ("" for a folder case)
    suffix: str
    folder: tuple[tuple[str, bytes], ...] = ()  # (relative name, content) for a folder case


@dataclass(frozen=True)
class Outcome:
    case: str
    status: str  # "scans", "error" (a ScanLoadError), "crash", "hang", "memory"
    detail: str
    seconds: float
    peak_mb: float

    @property
    def bad(self) -> bool:
        return self.status in ("crash", "hang", "memory")


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
    return found


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
    return cases


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


# -- running --------------------------------------------------------------------------------------
def _worker(connection, memory_limit_mb: int, loader: str = "app.core.scans.loading:load_scans") -> None:
    """Loads cases sent over ``connection`` until it closes; replies (status, detail, peak MB).
    ``loader`` ("module:function") is the function under test."""
    import importlib
    import resource
    import warnings

    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("ignore")
    from app.core.errors import ScanLoadError

    module, function = loader.split(":")
    load_scans = getattr(importlib.import_module(module), function)
    connection.send("ready")
    while True:
        try:
            path = connection.recv()
        except EOFError:
            return
        try:
            scans = load_scans(path)
            bad = [s for s in scans if s.display.dtype.name != "uint8" or s.display.ndim not in (2, 3)]
            reply = ("crash", f"bad display array {bad[0].display.dtype} {bad[0].display.shape}") if bad else ("scans", str(len(scans)))
        except ScanLoadError as exc:
            message = str(exc)
            reply = ("crash", "ScanLoadError without a message") if not message.strip() else ("error", message)
        except MemoryError:
            reply = ("memory", "MemoryError escaped the loader")
        except BaseException as exc:  # noqa: BLE001 - this is what we are looking for
            reply = ("crash", f"{type(exc).__name__}: {exc}"[:300])
        connection.send((*reply, _peak_rss_mb()))


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space and starts afresh at
    exec; ru_maxrss survives exec, so a worker spawned by a big parent (a long pytest run) would
    report the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Runner:
    """A worker process that loads one case at a time; restarted after a hang or a death."""

    def __init__(self, time_limit_s: float = TIME_LIMIT_S, memory_limit_mb: int = MEMORY_LIMIT_MB,
                 loader: str = "app.core.scans.loading:load_scans") -> None:
        self.time_limit_s, self.memory_limit_mb, self.loader = time_limit_s, memory_limit_mb, loader
        self.folder = Path(tempfile.mkdtemp(prefix="brainlens-fuzz-"))
        self.process = None
        self.connection = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, self.memory_limit_mb, self.loader), daemon=True)
        self.process.start()
        self.connection = parent
        if not parent.poll(120) or parent.recv() != "ready":  # imports are not timed
            raise RuntimeError("the fuzz worker did not start")

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
        self.process = self.connection = None

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def run(self, case: Case) -> Outcome:
        path = self._write(case)
        if self.process is None or not self.process.is_alive():
            self._start()
        started = time.perf_counter()
        self.connection.send(str(path))
        try:
            if not self.connection.poll(self.time_limit_s):
                self._stop()
                return Outcome(case.name, "hang", f"no answer within {self.time_limit_s:g} s", self.time_limit_s, float("nan"))
            status, detail, peak = self.connection.recv()
        except (EOFError, ConnectionError):
            code = self.process.exitcode if self.process is not None else None
            self._stop()
            return Outcome(case.name, "memory", f"the worker died (exit code {code})", time.perf_counter() - started, float("nan"))
        finally:
            _remove(path)
        return Outcome(case.name, status, detail, time.perf_counter() - started, peak)


    def _write(self, case: Case) -> Path:
        if case.folder:
            folder = Path(tempfile.mkdtemp(dir=self.folder))
            for name, data in case.folder:
                (folder / name).write_bytes(data)
            return folder
        path = self.folder / f"case{case.suffix}"
        path.write_bytes(case.data)
        return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fuzz(*, minutes: float | None = None, cases: int | None = None, seed: int = 0, workers: int = 2,
         include_bombs: bool = True, time_limit_s: float = TIME_LIMIT_S, memory_limit_mb: int = MEMORY_LIMIT_MB,
         log=print) -> list[Outcome]:
    """Run until ``minutes`` pass or ``cases`` are done; returns every outcome."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    warnings.simplefilter("ignore")  # pydicom warns about the values the mutations write
    deadline = time.monotonic() + minutes * 60 if minutes else None
    rng = random.Random(seed)
    folder_seed = series_folder_seed()
    queue: list[Case] = bombs() if include_bombs else []
    outcomes: list[Outcome] = []
    batch = 0

    def more() -> list[Case]:
        nonlocal batch
        batch += 1
        made = generate(200, seed * 100_003 + batch)
        made += [mutate_folder(folder_seed, rng) for _ in range(4)]
        return made

    runners = [Runner(time_limit_s, memory_limit_mb) for _ in range(max(1, workers))]
    try:
        with ThreadPoolExecutor(len(runners)) as pool:
            while True:
                if cases is not None and len(outcomes) >= cases:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    break
                if not queue:
                    queue = more()
                take = len(runners) if cases is None else min(len(runners), cases - len(outcomes))
                chunk, queue = queue[:take], queue[take:]
                for outcome in pool.map(lambda pair: pair[0].run(pair[1]), zip(runners, chunk)):
                    outcomes.append(outcome)
                    if outcome.bad:
                        log(f"{outcome.status.upper()}: {outcome.case}: {outcome.detail}")
    finally:
        for runner in runners:
            runner.close()
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    peaks = [o.peak_mb for o in outcomes if o.peak_mb == o.peak_mb]
    lines = [
        f"{len(outcomes)} cases: {counts['scans']} loaded, {counts['error']} refused with a ScanLoadError, "
        f"{counts['crash']} crashes, {counts['hang']} hangs, {counts['memory']} memory failures",
        f"slowest case {slowest.seconds:.2f} s ({slowest.case[:70]}); worker peak RSS {max(peaks, default=0):.0f} MB",
    ]
    bombs_seen = [o for o in outcomes if o.case.startswith("bomb:")]
    for o in bombs_seen:
        lines.append(f"  {o.case}: {o.status} in {o.seconds:.2f} s, peak {o.peak_mb:.0f} MB: {o.detail[:90]}")
    return "\n".join(lines)


# -- atheris --------------------------------------------------------------------------------------
def atheris_main(minutes: float, time_limit_s: float, memory_limit_mb: int) -> None:
    """Coverage-guided fuzzing of ``load_scans`` (libFuzzer's own -timeout and -rss_limit_mb)."""
    import atheris

    corpus = Path(tempfile.mkdtemp(prefix="brainlens-corpus-"))
    for index, case in enumerate(seeds()):
        (corpus / f"seed{index:03d}{case.suffix}").write_bytes(case.data)
    with atheris.instrument_imports():
        import PIL.Image  # noqa: F401
        import pydicom  # noqa: F401

        from app.core.scans import dicom, images, loading  # noqa: F401
    from app.core.errors import ScanLoadError
    from app.core.scans.loading import load_scans

    scratch = Path(tempfile.mkdtemp(prefix="brainlens-atheris-"))
    suffixes = (".dcm", ".png", ".tif", ".jpg")

    def one_input(data: bytes) -> None:
        path = scratch / f"input{suffixes[data[0] % 4] if data else '.dcm'}"
        path.write_bytes(data)
        try:
            load_scans(path)
        except ScanLoadError as exc:
            if not str(exc).strip():
                raise AssertionError("ScanLoadError without a message") from exc

    args = [sys.argv[0], str(corpus), f"-max_total_time={int(minutes * 60)}", f"-timeout={int(time_limit_s)}",
            f"-rss_limit_mb={memory_limit_mb}", "-print_final_stats=1"]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help="run for this long (default: 1 minute unless --cases)")
    parser.add_argument("--cases", type=int, help="run exactly this many cases (after the bombs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S, help="seconds per file (default 20)")
    parser.add_argument("--memory-limit", type=int, default=MEMORY_LIMIT_MB, help="MB of address space per worker")
    parser.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    parser.add_argument("--no-bombs", action="store_true")
    args = parser.parse_args(argv)
    if args.engine == "atheris":
        atheris_main(args.minutes or 1.0, args.time_limit, args.memory_limit)
        return 0
    minutes = args.minutes if args.minutes or args.cases else 1.0
    started = time.perf_counter()
    outcomes = fuzz(minutes=minutes, cases=args.cases, seed=args.seed, workers=args.workers,
                    include_bombs=not args.no_bombs, time_limit_s=args.time_limit, memory_limit_mb=args.memory_limit)
    print(summary(outcomes))
    print(f"{time.perf_counter() - started:.0f} s, {len(outcomes) / (time.perf_counter() - started):.1f} cases/s")
    return 1 if any(o.bad for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
