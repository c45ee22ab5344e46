"""Bounded fuzz run of the loaders (scripts/fuzz.py): mutated real files, decompression bombs,
each load in a worker process with a time limit and an address-space limit.

tests/test_loading_robustness.py fuzzes random bytes and cut/corrupted MR files in-process; this
adds more real seeds (CT, NM, US, JPEG extended/LS/2000, RLE, deflate, palette, multi-frame, 8- and
16-bit PNG/TIFF, a series folder), structural header mutations, and the limits.
"""

from __future__ import annotations

import io
import time
import zlib

import pytest

from app.core.errors import ImageTooLargeError
from scripts import fuzz, fuzz_cases

MEMORY_MB = 1536  # per worker: the loader's own limits keep every case far below this


def sleepy_loader(path):
    """A stand-in loader for testing the runner: hangs, crashes or exhausts memory on request."""
    from pathlib import Path

    data = Path(path).read_bytes() if Path(path).is_file() else b""
    if data == b"hang":
        time.sleep(60)
    if data == b"crash":
        raise ValueError("boom")
    if data == b"memory":
        return bytearray(4 << 30)  # more than the worker's address space
    return []


def test_runner_reports_hangs_crashes_and_memory_failures_then_goes_on():
    with fuzz.Runner(time_limit_s=3, memory_limit_mb=MEMORY_MB, loader="tests.test_reliability_fuzz:sleepy_loader") as runner:
        outcomes = [runner.run(fuzz_cases.Case(name, name.encode(), ".bin")) for name in ("hang", "crash", "memory", "fine")]
    assert [o.status for o in outcomes] == ["hang", "crash", "memory", "scans"]
    assert outcomes[0].seconds < 10 and "ValueError: boom" in outcomes[1].detail


def test_decompression_bombs_are_refused_quickly_in_bounded_memory():
    with fuzz.Runner(time_limit_s=20, memory_limit_mb=MEMORY_MB) as runner:
        outcomes = [runner.run(case) for case in fuzz_cases.bombs(heavy=False)]
    for outcome in outcomes:  # "error", not "hang": refused within the per-file time limit
        assert outcome.status == "error", outcome
        assert outcome.peak_mb < 1000, outcome
    too_large = [o for o in outcomes if "too large to open safely" in o.detail]
    assert len(too_large) >= 5, [o.detail for o in outcomes]


def test_deflate_bomb_check_counts_without_keeping_the_data(tmp_path):
    from app.core.scans.dicom import refuse_deflate_bomb
    from app.core.scans.loading import load_scans
    from tests.mri_data import pydicom_file

    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(fuzz_cases.deflate_bomb(64 << 20))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ImageTooLargeError, match="deflate"):
        refuse_deflate_bomb(bomb, limit=32 << 20)
    refuse_deflate_bomb(bomb)  # 64 MB is within the default limit: pydicom may read it
    real = pydicom_file("image_dfl.dcm")  # a real deflated file still loads
    refuse_deflate_bomb(real)
    assert load_scans(real)[0].display.ndim == 2


def test_header_mutations_write_what_they_say():
    import random

    import pydicom

    from tests.mri_data import pydicom_file

    data, what = fuzz_cases.mutate_dicom_header(pydicom_file("MR_small.dcm").read_bytes(), random.Random(3))
    keyword, value = what.split("=", 1)
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    found = ds.file_meta.get(keyword) if keyword == "TransferSyntaxUID" else ds.get(keyword)
    if keyword != "PixelData":
        assert str(found) == value or str(getattr(found, "value", found)) == value
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (3, 3)).save(buffer, "PNG")
    png = fuzz_cases.png_with_size(buffer.getvalue(), 5, 7)
    assert png[16:24] == b"\x00\x00\x00\x05\x00\x00\x00\x07"
    assert zlib.crc32(png[12:29]) & 0xFFFFFFFF == int.from_bytes(png[29:33], "big")
    assert Image.open(io.BytesIO(png)).size == (5, 7)


def test_bounded_fuzz_run_has_no_crash_hang_or_memory_failure():
    """~1000 mutated real files and series folders, two workers, 20 s per file, 1.5 GB each."""
    outcomes = fuzz.fuzz(cases=1000, seed=20261123, workers=2, include_bombs=False, time_limit_s=20,
                         memory_limit_mb=MEMORY_MB, log=lambda line: None)
    bad = [o for o in outcomes if o.bad]
    assert not bad, "\n".join(f"{o.status}: {o.case}: {o.detail}" for o in bad)
    statuses = {o.status for o in outcomes}
    assert statuses == {"scans", "error"}  # the mutations reach both outcomes
    assert any("series folder" in o.case for o in outcomes)
