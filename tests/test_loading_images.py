"""Plain image files written from real MNI brain slices: JPG, PNG, BMP, 8/16-bit TIFF, colour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from app.core.scans import images
from app.core.errors import EmptyFileError, ImageTooLargeError, NotAnImageError, ScanLoadError, TruncatedFileError
from app.core.scans.loading import load_scans
from tests import mri_data
from tests.loading_fixtures import png_header_only


@pytest.fixture(scope="module")
def slice8() -> np.ndarray:
    return mri_data.to_uint8(mri_data.axial_slice(90))


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_8bit_grey_round_trips(tmp_path, slice8, suffix):
    path = tmp_path / f"slice{suffix}"
    Image.fromarray(slice8).save(path)
    (scan,) = load_scans(path)
    np.testing.assert_array_equal(scan.display, slice8)
    np.testing.assert_array_equal(scan.pixels, slice8.astype(np.float32))
    assert scan.window is None and scan.metadata.is_empty and scan.label == path.name
    assert len(scan.file_sha256) == 64


def test_jpg_of_a_grey_brain_is_close_to_the_original(mni_jpg):
    (scan,) = load_scans(mni_jpg)
    original = mri_data.to_uint8(mri_data.axial_slice(80))
    grey = scan.display if scan.display.ndim == 2 else scan.display.mean(axis=2)
    assert grey.shape == original.shape
    assert np.abs(grey.astype(float) - original).mean() < 2.0


def test_png_fixture(mni_png):
    (scan,) = load_scans(mni_png)
    assert scan.display.shape == (233, 197) and scan.display.dtype == np.uint8


def test_16bit_tiff_keeps_precision_and_is_windowed_to_full_range(tmp_path):
    slice16 = np.round(mri_data.axial_slice(90) * 200).astype(np.uint16)  # 0..51000
    path = tmp_path / "slice16.tif"
    Image.fromarray(slice16).save(path)
    (scan,) = load_scans(path)
    np.testing.assert_array_equal(scan.pixels, slice16.astype(np.float32))
    assert scan.display.min() == 0 and scan.display.max() == 255
    expected = mri_data.to_uint8(slice16.astype(np.float32))
    assert np.abs(scan.display.astype(int) - expected).max() <= 1
    assert scan.window is not None


def test_16bit_colour_png_is_read_at_full_depth(tmp_path):
    rgb16 = np.zeros((20, 30, 3), np.uint16)
    rgb16[:, :10, 0] = 65535
    rgb16[:, 10:20, 1] = 1000  # below 8-bit resolution after scaling: must survive in pixels
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), rgb16[:, :, ::-1])  # OpenCV writes BGR
    (scan,) = load_scans(path)
    np.testing.assert_array_equal(scan.pixels, rgb16.astype(np.float32))
    np.testing.assert_array_equal(scan.display[0, 0], [255, 0, 0])
    assert scan.display[0, 15, 1] == 4  # 1000 / 65535 * 255


def test_colour_jpg_stays_colour_and_grey_rgb_png_becomes_grey(tmp_path, slice8):
    colour = np.stack([slice8, slice8 // 2, 255 - slice8], axis=2)
    Image.fromarray(colour).save(tmp_path / "c.png")
    assert load_scans(tmp_path / "c.png")[0].display.shape == (233, 197, 3)
    Image.fromarray(np.repeat(slice8[:, :, None], 3, axis=2)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_scans(tmp_path / "g.png")[0].display, slice8)


def test_multipage_tiff_gives_one_scan_per_page(tmp_path, slice8):
    pages = [Image.fromarray(slice8), Image.fromarray(255 - slice8)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    scans = load_scans(tmp_path / "stack.tif")
    assert [s.frame for s in scans] == [0, 1] and scans[1].label == "stack.tif — frame 2/2"
    np.testing.assert_array_equal(scans[1].display, 255 - slice8)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_is_refused_from_the_header(tmp_path, monkeypatch):
    path = png_header_only(tmp_path / "bomb.png", 50_000, 50_000)
    monkeypatch.setattr(images, "_to_array", lambda *a: pytest.fail("decoded a bomb"))
    with pytest.raises(ImageTooLargeError, match="too large") as info:
        load_scans(path)
    assert "2500 megapixels" in str(info.value)
    # Below Pillow's own guard, ours reads the header size.
    path = png_header_only(tmp_path / "big.png", 12_000, 10_000)
    with pytest.raises(ImageTooLargeError, match="12000 × 10000"):
        load_scans(path)


def test_truncated_image(tmp_path, slice8):
    full = tmp_path / "full.png"
    Image.fromarray(slice8).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(TruncatedFileError):
        load_scans(cut)


@pytest.mark.parametrize("content", [b"just some text\n" * 10, b"", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10])
def test_not_an_image(tmp_path, content):
    path = tmp_path / "scan.png"
    path.write_bytes(content)
    with pytest.raises(ScanLoadError) as info:
        load_scans(path)
    assert isinstance(info.value, (NotAnImageError, TruncatedFileError, EmptyFileError)) or "damaged" in str(info.value)
    if not content:  # an empty file says so (issue 15, item 8)
        assert "The file is empty" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ScanLoadError, match="does not exist"):
        load_scans(tmp_path / "nowhere.png")
