"""DICOM decoding on pydicom's bundled real files and small hand-made ones."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from app.core.scans import dicom
from app.core.errors import (
    ImageTooLargeError,
    MissingDecoderError,
    NoPixelDataError,
    NotAnImageError,
    ScanLoadError,
    TruncatedFileError,
)
from app.core.scans.loading import load_scans
from tests.loading_fixtures import write_small_dicom
from tests.mri_data import pydicom_file

MR_VARIANTS = [
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_expb.dcm",
    "MR_small_padded.dcm",
]


@pytest.fixture(scope="module")
def mr_small():
    (scan,) = load_scans(pydicom_file("MR_small.dcm"))
    return scan


def test_mr_small_is_windowed_with_its_first_preset(mr_small):
    assert mr_small.pixels.dtype == np.float32 and mr_small.pixels.shape == (64, 64)
    assert mr_small.display.dtype == np.uint8 and mr_small.display.shape == (64, 64)
    assert mr_small.window == (600.0, 1600.0)
    raw = pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array
    np.testing.assert_array_equal(mr_small.pixels, raw.astype(np.float32))
    # 600 ± 800: values at or below -200 are black, at or above 1400 white, 600 mid-grey.
    assert mr_small.display[raw >= 1400].min() == 255
    assert abs(int(np.median(mr_small.display[(raw > 590) & (raw < 610)])) - 128) <= 4
    assert len(mr_small.file_sha256) == 64


@pytest.mark.filterwarnings("ignore:The pixel data is .* excess padding:UserWarning")
@pytest.mark.parametrize("name", MR_VARIANTS)
def test_every_transfer_syntax_decodes_to_the_same_pixels(name, mr_small):
    (scan,) = load_scans(pydicom_file(name))
    np.testing.assert_allclose(scan.pixels, mr_small.pixels, atol=1.0)
    assert np.abs(scan.display.astype(int) - mr_small.display.astype(int)).max() <= 1


def test_metadata_is_read_and_anonymised(mr_small):
    meta = mr_small.metadata
    assert meta.modality == "MR" and meta.patient_name and meta.pixel_spacing == (0.3125, 0.3125)
    anon = meta.anonymised()
    assert anon.patient_name is None and anon.patient_id is None and anon.patient_birth_date is None
    assert anon.institution is None and anon.sop_instance_uid is None
    assert anon.modality == "MR" and anon.pixel_spacing == meta.pixel_spacing
    assert meta.patient_name not in repr(mr_small) and meta.patient_name not in repr(meta)
    assert mr_small.anonymised().metadata == anon


def test_ct_rescale_gives_hounsfield_units():
    (scan,) = load_scans(pydicom_file("CT_small.dcm"))
    raw = pydicom.dcmread(pydicom_file("CT_small.dcm")).pixel_array
    np.testing.assert_array_equal(scan.pixels, raw.astype(np.float32) - 1024.0)
    assert scan.metadata.modality == "CT"


def test_multiframe_gives_one_scan_per_frame_with_a_shared_window():
    scans = load_scans(pydicom_file("rtdose.dcm"))
    assert len(scans) == 15
    assert [s.frame for s in scans] == list(range(15))
    assert scans[3].label == "rtdose.dcm — frame 4/15"
    assert len({s.window for s in scans}) == 1
    raw = pydicom.dcmread(pydicom_file("rtdose.dcm")).pixel_array
    np.testing.assert_array_equal(scans[7].pixels, raw[7].astype(np.float32))


@pytest.mark.parametrize("name", ["SC_rgb_rle.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_rgb_dicom_gives_rgb_display(name):
    (scan,) = load_scans(pydicom_file(name))
    assert scan.display.shape == (100, 100, 3) and scan.display.dtype == np.uint8 and scan.is_rgb
    assert scan.window is None
    # pydicom's SC_rgb test image: the top band is pure red.
    np.testing.assert_array_equal(scan.display[2, 50], [255, 0, 0])


def test_monochrome1_is_inverted(tmp_path):
    stored = np.tile(np.arange(0, 256, 16, dtype=np.uint16), (8, 1))
    m1 = load_scans(write_small_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", window=(120, 240)))[0]
    m2 = load_scans(write_small_dicom(tmp_path / "m2.dcm", stored, window=(120, 240)))[0]
    np.testing.assert_array_equal(m1.display, 255 - m2.display)
    assert m1.inverted and not m2.inverted
    assert m1.display[0, 0] == 255  # lowest value shows white


def test_signed_pixels_and_rescale(tmp_path):
    stored = np.array([[-1000, -500, 0], [500, 1000, 2000]], dtype=np.int16)
    (scan,) = load_scans(write_small_dicom(tmp_path / "s.dcm", stored, rescale=(2.0, -100.0), window=(0, 2000)))
    np.testing.assert_array_equal(scan.pixels, stored.astype(np.float32) * 2 - 100)
    assert scan.display[0, 0] == 0 and scan.display[1, 2] == 255  # -2100 black, 3900 white
    assert abs(int(scan.display[0, 2]) - 115) <= 2  # -100 in window 0 ± 1000 → (900/2000)*255


def test_missing_window_uses_robust_percentiles(tmp_path):
    stored = np.full((50, 50), 100, dtype=np.uint16)
    stored[10:40, 10:40] = 1000
    stored[0, 0] = 60000  # one hot pixel must not wash the image out
    (scan,) = load_scans(write_small_dicom(tmp_path / "w.dcm", stored))
    assert scan.window is not None and scan.window[0] + scan.window[1] / 2 < 2000
    assert scan.display[20, 20] == 255 and scan.display[5, 5] == 0


def test_sigmoid_voi_function(tmp_path):
    stored = np.array([[0, 100, 200]], dtype=np.uint16)
    (scan,) = load_scans(write_small_dicom(tmp_path / "g.dcm", stored, window=(100, 100), voi_function="SIGMOID"))
    assert scan.display[0, 0] < 10 and abs(int(scan.display[0, 1]) - 128) <= 1 and scan.display[0, 2] > 245


def test_text_file_renamed_dcm_is_not_an_image(tmp_path):
    path = tmp_path / "report.dcm"
    path.write_text("Patient letter: nothing to see here\n" * 20)
    with pytest.raises(NotAnImageError, match="not an image or DICOM") as info:
        load_scans(path)
    assert info.value.path == path


def test_dicom_without_pixel_data(tmp_path):
    path = write_small_dicom(tmp_path / "sr.dcm", np.zeros((4, 4), np.uint16), with_pixels=False)
    assert pydicom.dcmread(path).Modality == "SR"
    with pytest.raises(NoPixelDataError, match="no image data"):
        load_scans(path)


def test_truncated_files(tmp_path):
    with pytest.raises(TruncatedFileError, match="incomplete"):
        load_scans(pydicom_file("MR_truncated.dcm"))


@pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")
@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_jp2klossless.dcm"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_files_cut_anywhere_are_reported_as_truncated(tmp_path, name, fraction):
    data = pydicom_file(name).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(TruncatedFileError):
        load_scans(cut)


def test_image_attributes_without_pixel_data_is_truncated(tmp_path):
    path = write_small_dicom(tmp_path / "cut.dcm", np.zeros((4, 4), np.uint16), with_pixels=False, rows_cols=(4, 4))
    with pytest.raises(TruncatedFileError):
        load_scans(path)


def test_huge_declared_dimensions_are_refused_before_decoding(tmp_path, monkeypatch):
    path = write_small_dicom(tmp_path / "huge.dcm", np.zeros((4, 4), np.uint16), rows_cols=(60000, 60000))
    monkeypatch.setattr(dicom, "_decode_frames", lambda *a: pytest.fail("decoded a bomb"))
    with pytest.raises(ImageTooLargeError, match="too large"):
        load_scans(path)
    frames = write_small_dicom(tmp_path / "frames.dcm", np.zeros((2, 4, 4), np.uint16), rows_cols=(4096, 4096), frames=20000)
    with pytest.raises(ImageTooLargeError):
        load_scans(frames)


def test_missing_decoder_names_the_syntax_and_package(monkeypatch):
    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(MissingDecoderError) as info:
        load_scans(pydicom_file("MR_small_jp2klossless.dcm"))
    message = str(info.value)
    assert "JPEG 2000" in message and "pylibjpeg-openjpeg" in message
    assert info.value.packages == ("pylibjpeg", "pylibjpeg-openjpeg")
    load_scans(pydicom_file("MR_small.dcm"))  # uncompressed needs no decoder


def test_undecodable_jpeg_gets_a_clear_error_not_a_crash():
    # pydicom's JPEG-lossy.dcm (12-bit JPEG Extended) is rejected by every installed plugin.
    try:
        scans = load_scans(pydicom_file("JPEG-lossy.dcm"))
    except ScanLoadError as exc:
        assert "JPEG Extended" in str(exc)
    else:
        assert scans[0].display.shape == (1024, 256)


def test_messages_never_contain_patient_names(tmp_path):
    path = write_small_dicom(tmp_path / "x.dcm", np.zeros((4, 4), np.uint16), with_pixels=False, patient_name="Smith^John")
    with pytest.raises(ScanLoadError) as info:
        load_scans(path)
    assert "Smith" not in str(info.value)


def test_enhanced_multiframe_uses_each_frames_functional_groups(tmp_path):
    from pydicom.dataset import Dataset

    stored = np.stack([np.full((4, 4), 100, np.uint16), np.full((4, 4), 100, np.uint16)])
    stored[:, 0, 0] = 0
    path = write_small_dicom(tmp_path / "enh.dcm", stored, frames=2)
    ds = pydicom.dcmread(path)
    per_frame = []
    for intercept, centre in ((0.0, 50.0), (1000.0, 1050.0)):
        item, transform, voi = Dataset(), Dataset(), Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, intercept, "US"
        voi.WindowCenter, voi.WindowWidth = centre, 200
        item.PixelValueTransformationSequence, item.FrameVOILUTSequence = [transform], [voi]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.save_as(path)
    first, second = load_scans(path)
    assert first.pixels[1, 1] == 100 and second.pixels[1, 1] == 1100
    assert first.window == (50.0, 200.0) and second.window == (1050.0, 200.0)
    np.testing.assert_array_equal(first.display, second.display)


@pytest.mark.parametrize("name", ["SC_ybr_full_422_uncompressed.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_jpeg_dcmtk.dcm"])
def test_ybr_dicom_is_converted_to_rgb(name):
    (reference,) = load_scans(pydicom_file("SC_rgb_rle.dcm"))
    (scan,) = load_scans(pydicom_file(name))
    assert scan.display.shape == reference.display.shape
    assert np.abs(scan.display.astype(int) - reference.display.astype(int)).mean() < 3


def test_palette_colour_and_deflate():
    (palette,) = load_scans(pydicom_file("examples_palette.dcm"))
    assert palette.display.shape == (350, 800, 3) and len(np.unique(palette.display.reshape(-1, 3), axis=0)) > 10
    (deflated,) = load_scans(pydicom_file("image_dfl.dcm"))
    assert deflated.display.shape == (512, 512) and deflated.display.std() > 10


def test_file_without_preamble_or_file_meta(tmp_path):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.4", "MR"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.Rows, ds.Columns = 1, "MONOCHROME2", 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(16, dtype=np.uint16).tobytes()
    path = tmp_path / "acr_nema"  # no extension either
    ds.save_as(path, implicit_vr=True, little_endian=True)
    (scan,) = load_scans(path)
    np.testing.assert_array_equal(scan.pixels.ravel(), np.arange(16))


@pytest.mark.parametrize("name", ["test-SR.dcm", "rtplan.dcm", "rtstruct.dcm", "waveform_ecg.dcm"])
def test_real_non_image_objects_have_no_pixel_data(name):
    with pytest.raises(NoPixelDataError):
        load_scans(pydicom_file(name))


def test_rewindowing_a_scan_keeps_monochrome1_inverted(tmp_path):
    stored = np.tile(np.arange(0, 256, 16, dtype=np.uint16), (8, 1))
    (m1,) = load_scans(write_small_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", window=(120, 240)))
    narrow = m1.with_window(128, 64)
    assert narrow.window == (128.0, 64.0) and narrow.display[0, 0] == 255 and narrow.display[0, -1] == 0
    assert m1.window == (120.0, 240.0)  # the original is untouched
