"""The app icon and the bundled sample scans: present, consistent, reproducible, small."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
ICONS = REPO / "resources" / "icons"
SAMPLES = REPO / "resources" / "samples"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


make_icons = _load(ICONS / "make_icons.py", "make_icons")


@pytest.mark.parametrize("size", make_icons.PNG_SIZES)
def test_each_png_icon_has_its_size_and_transparent_corners(size):
    image = Image.open(ICONS / f"brainlens-{size}.png")
    assert image.size == (size, size) and image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # rounded tile: the corner is transparent
    assert image.getpixel((size // 2, size // 2))[3] == 255


def test_windows_and_mac_icons_carry_several_sizes():
    ico = Image.open(ICONS / "brainlens.ico")
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    icns = Image.open(ICONS / "brainlens.icns")
    assert icns.size[0] >= 512


def test_the_generator_reproduces_the_committed_icons(tmp_path):
    make_icons.main(tmp_path)
    for size in (16, 64, 256):
        fresh = np.asarray(Image.open(tmp_path / f"brainlens-{size}.png"), dtype=np.int16)
        committed = np.asarray(Image.open(ICONS / f"brainlens-{size}.png"), dtype=np.int16)
        assert np.abs(fresh - committed).mean() < 1.0
    assert (tmp_path / "brainlens.svg").read_text() == (ICONS / "brainlens.svg").read_text()


def test_the_svg_draws_the_same_picture_as_the_png(qapp):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(ICONS / "brainlens.svg"))
    assert renderer.isValid()
    image = QImage(256, 256, QImage.Format.Format_RGBA8888)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    svg = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(256, image.bytesPerLine() // 4, 4)[:, :256, :3]
    png = np.asarray(Image.open(ICONS / "brainlens-256.png").convert("RGBA"))[..., :3]
    assert np.abs(svg.astype(np.int16) - png.astype(np.int16)).mean() < 12


def test_samples_are_small_and_load_as_scans():
    from app.core.scans.loading import load_folder, load_scans

    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in {".png", ".dcm"})
    assert total < 1_000_000
    [scan] = load_scans(SAMPLES / "mni_axial_z90.png")
    assert scan.display.shape == (233, 197)
    folder = load_folder(SAMPLES / "mni_series")
    assert len(folder.scans) == 5 and not folder.failures
    assert [s.slice_index for s in folder.scans] == sorted(s.slice_index for s in folder.scans)


def test_sample_dicoms_belong_to_no_patient():
    import pydicom

    for path in sorted((SAMPLES / "mni_series").glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert str(ds.PatientName) == "Sample^Template" and ds.PatientID == "SAMPLE-MNI152"
        assert ds.Modality == "MR"
