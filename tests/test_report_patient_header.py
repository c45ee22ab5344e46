"""A non-anonymised batch PDF names the patient of every DICOM study; an anonymised one does not."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from app.core.reports.batch_pdf import write_batch_report
from app.core.reports.patient_header import dicom_date, person_name
from tests.report_fixtures import FakeBatchItem, dicom_series, fake_prediction
from tests.test_report_pdf import MODEL, pdf_text

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory):
    from tests import mri_data
    from tests.report_fixtures import scan_from_dicom

    first = dicom_series(tmp_path_factory.mktemp("study_a"), range(60, 100, 20))
    paths = mri_data.write_dicom_series(tmp_path_factory.mktemp("study_b"), [80], patient_name="Ödegaard^Åse",
                                        patient_id="BL-0002")
    return first + [scan_from_dicom(paths[0], 0, 1)]


def _items(scans, keep_scans: bool):
    rng = np.random.default_rng(5)
    return [FakeBatchItem(s.source, s.label, "ok", None, s if keep_scans else None,
                 fake_prediction(rng.dirichlet([2, 1, 1, 1]), seed=i), s.file_sha256,
                 None if keep_scans else s.metadata) for i, s in enumerate(scans)]


@pytest.mark.parametrize("keep_scans", [True, False], ids=["cli", "gui"])
def test_batch_report_header_identifies_each_study(tmp_path, two_studies, keep_scans):
    text = re.sub(r"[ \t]+", " ", pdf_text(write_batch_report(tmp_path / "r.pdf", _items(two_studies, keep_scans),
                                                              model_info=MODEL)))
    assert "Patients and studies (2)" in text
    assert "Doe, Jane BL-0001 1970-01-01 2026-01-15 MRI BRAIN" in text
    assert "Ödegaard, Åse BL-0002 1970-01-01 2026-01-15" in text
    assert text.index("Patients and studies") < text.index("Summary")  # in the header, before the results


def test_anonymised_batch_report_leaves_the_patients_out(tmp_path, two_studies):
    text = pdf_text(write_batch_report(tmp_path / "a.pdf", _items(two_studies, True), model_info=MODEL,
                                       anonymise=True))
    for identifier in ("Patients and studies", "Doe", "Jane", "BL-0001", "Ödegaard", "BL-0002", "1970-01-01", "2026-01-15"):
        assert identifier not in text, identifier


def test_name_and_date_formats():
    assert person_name("Doe^Jane^Q^Dr") == "Doe, Jane Q"
    assert person_name("Doe") == "Doe" and person_name("") == "" and person_name(None) == ""
    assert dicom_date("19700101") == "1970-01-01" and dicom_date("1970") == "1970" and dicom_date(None) == ""
