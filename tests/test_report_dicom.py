"""DICOM outputs: Secondary Capture of the overlay and Encapsulated PDF, read back by pydicom."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import EncapsulatedPDFStorage, SecondaryCaptureImageStorage

from app.core.reports.dicom_outputs import (
    NOT_FOR_DIAGNOSIS,
    read_encapsulated_pdf,
    write_encapsulated_pdf,
    write_secondary_capture,
)
from tests.report_fixtures import dicom_series, fake_prediction, scan_from_png, simple_overlay


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return dicom_series(tmp_path_factory.mktemp("sc_series"), range(60, 100, 20))


@pytest.fixture()
def overlay(series):
    scan = series[0]
    return simple_overlay(scan.display, fake_prediction([0.7, 0.1, 0.1, 0.1]).cams[0])


def test_secondary_capture_joins_the_study(tmp_path, series, overlay):
    scan = series[0]
    out = write_secondary_capture(tmp_path / "sc.dcm", overlay, scan)
    ds = pydicom.dcmread(out)
    source = pydicom.dcmread(scan.source, stop_before_pixels=True)
    assert ds.SOPClassUID == SecondaryCaptureImageStorage
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    assert ds.SeriesInstanceUID not in (source.SeriesInstanceUID, ds.StudyInstanceUID)
    assert str(ds.PatientName) == "Doe^Jane" and ds.PatientID == "BL-0001"
    assert ds.PatientBirthDate == "19700101" and ds.StudyDescription == "MRI BRAIN"
    assert NOT_FOR_DIAGNOSIS in ds.SeriesDescription
    assert ds.BurnedInAnnotation == "YES" and ds.ConversionType == "WSD"
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3
    np.testing.assert_array_equal(ds.pixel_array, overlay)


def test_two_captures_get_distinct_series(tmp_path, series, overlay):
    a = pydicom.dcmread(write_secondary_capture(tmp_path / "a.dcm", overlay, series[0]))
    b = pydicom.dcmread(write_secondary_capture(tmp_path / "b.dcm", overlay, series[1]))
    assert a.StudyInstanceUID == b.StudyInstanceUID
    assert a.SeriesInstanceUID != b.SeriesInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID


def test_anonymised_secondary_capture_carries_no_identifiers(tmp_path, series, overlay):
    scan = series[0]
    out = write_secondary_capture(tmp_path / "anon.dcm", overlay, scan, anonymise=True)
    raw = out.read_bytes()
    for identifier in (b"Doe^Jane", b"BL-0001", b"19700101", b"BrainLens Test Hospital",
                       scan.metadata.study_instance_uid.encode(), scan.metadata.sop_instance_uid.encode()):
        assert identifier not in raw
    ds = pydicom.dcmread(out)
    assert ds.PatientIdentityRemoved == "YES"
    np.testing.assert_array_equal(ds.pixel_array, overlay)


def test_secondary_capture_of_a_png_scan_starts_a_new_study(tmp_path, mni_png):
    scan = scan_from_png(mni_png)
    overlay = np.repeat(scan.display[..., None], 3, axis=2)
    ds = pydicom.dcmread(write_secondary_capture(tmp_path / "png.dcm", overlay, scan))
    assert ds.StudyInstanceUID and ds.PatientName == "" and "SourceImageSequence" not in ds
    np.testing.assert_array_equal(ds.pixel_array, overlay)


def test_secondary_capture_refuses_non_rgb(tmp_path, series):
    with pytest.raises(ValueError, match="RGB"):
        write_secondary_capture(tmp_path / "x.dcm", series[0].display, series[0])


def test_encapsulated_pdf_round_trip(tmp_path, series):
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% odd length body\n%%EOF\n" + b"x")  # odd length: padding needed
    out = write_encapsulated_pdf(tmp_path / "r.dcm", pdf, series[0])
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == EncapsulatedPDFStorage
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf" and ds.Modality == "DOC"
    assert ds.StudyInstanceUID == series[0].metadata.study_instance_uid
    assert NOT_FOR_DIAGNOSIS in ds.SeriesDescription
    assert read_encapsulated_pdf(out) == pdf.read_bytes()


def test_encapsulated_pdf_refuses_a_non_pdf(tmp_path, series):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ValueError, match="not a PDF"):
        write_encapsulated_pdf(tmp_path / "r.dcm", other, series[0])


def test_non_ascii_patient_name_survives_a_latin1_source(tmp_path, series, overlay):
    source = pydicom.dcmread(series[0].source)
    source.SpecificCharacterSet = "ISO_IR 100"  # Latin-1, as many scanners write
    source.PatientName = "Müller^Jürgen"
    path = tmp_path / "latin1.dcm"
    source.save_as(path)
    assert "Müller".encode("latin-1") in path.read_bytes()
    scan = series[0].__class__(source=path, pixels=series[0].pixels, display=series[0].display,
                               metadata=series[0].metadata)
    ds = pydicom.dcmread(write_secondary_capture(tmp_path / "sc.dcm", overlay, scan))
    assert ds.SpecificCharacterSet == "ISO_IR 192" and str(ds.PatientName) == "Müller^Jürgen"
