"""Bad input never crashes the caller: any bytes give scans or a ScanLoadError, never another exception."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.core.errors import ScanLoadError
from app.core.scans.loading import load_scans
from tests.mri_data import pydicom_file

PREFIXES = [b"", b"\0" * 128 + b"DICM", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"BM", b"\x08\x00\x05\x00"]


def load_or_error(path) -> None:
    try:
        scans = load_scans(path)
    except ScanLoadError as exc:
        assert str(exc) and exc.path == path
        assert "unexpected problem" not in str(exc)  # every failure seen so far has a specific message
    else:
        assert all(s.display.dtype == np.uint8 for s in scans)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=600))
def test_random_bytes_behind_real_signatures(tmp_path, prefix, body):
    path = tmp_path / "random.dcm"
    path.write_bytes(prefix + body)
    load_or_error(path)


def _real_files() -> dict[str, bytes]:
    png = io.BytesIO()
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 251).convert("L").save(png, "PNG")
    files = {n: pydicom_file(n).read_bytes() for n in ("MR_small.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm")}
    files["png"] = png.getvalue()
    return files


REAL = _real_files()


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(REAL)), cut=st.floats(0.0, 1.0), flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8))
def test_cut_and_corrupted_real_files(tmp_path, name, cut, flips):
    data = bytearray(REAL[name][: max(1, int(len(REAL[name]) * cut))])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    path = tmp_path / ("x.png" if name == "png" else "x.dcm")
    path.write_bytes(bytes(data))
    load_or_error(path)
