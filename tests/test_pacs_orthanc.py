"""The PACS round trip against a real Orthanc (Debian's orthanc + orthanc-dicomweb, on loopback).

Upload a real MR series, find it (C-FIND and QIDO-RS), retrieve it (C-GET, C-MOVE, WADO-RS),
classify it, send the Secondary Capture, Encapsulated PDF and Structured Report back (C-STORE and
STOW-RS), read them back from Orthanc and check the SR's content and references.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from app.core.errors import PacsError
from app.core.network.pacs import GET, MOVE, PacsConnection
from app.core.network.query import StudyQuery
from tests import orthanc_server


def _pixels(paths) -> dict[str, np.ndarray]:
    return {str(ds.SOPInstanceUID): ds.pixel_array for ds in (pydicom.dcmread(p) for p in paths)}


@pytest.fixture
def uploaded(orthanc, pacs_store, pacs_series, tmp_path):
    orthanc.clear()
    connection = PacsConnection(pacs_store.get("orthanc"), pacs_store, audit_log=tmp_path / "audit.jsonl")
    stored = connection.send(pacs_series)
    assert len(stored) == len(pacs_series)
    return connection


def test_round_trip_find_retrieve_classify_send_read_back(uploaded, pacs_store, pacs_series, tmp_path,
                                                          default_model_path):
    from app.core.model.inference import Classifier
    from app.core.network.send import study_result_objects
    from app.core.reports.dicom_outputs import read_encapsulated_pdf
    from app.core.reports.dicom_sr import read_findings
    from app.core.model.identity import ModelInfo
    from app.core.scans.loading import load_folder

    dimse = uploaded
    web = PacsConnection(pacs_store.get("orthanc-web"), pacs_store, audit_log=dimse.audit_log)
    original = _pixels(pacs_series)

    matches = dimse.find(StudyQuery(patient_id="BL-PACS-7", modality="MR"))
    assert len(matches) == 1
    match = matches[0]
    assert (match.patient_name, match.n_images, match.study_date) == ("Roe^Richard", 6, "20260115")
    assert match.series_description == "T1 AX PACS"
    web_matches = web.find(StudyQuery(patient_name="Roe*", dates="20260101-20260131"))
    assert [m.series_uid for m in web_matches] == [match.series_uid]
    assert web_matches[0].n_images == 6
    assert dimse.find(StudyQuery(patient_id="BL-PACS-7", dates="20250101-20251231")) == []

    results = {}
    for name, connection, method in (("get", dimse, GET), ("move", dimse, MOVE), ("wado", web, None)):
        progress = []
        result = connection.retrieve(match, method=method, root=tmp_path / name, on_progress=progress.append)
        assert result.complete, (name, result.summary())
        assert result.summary() == "6 of 6 image(s) retrieved"
        got = _pixels(result.files)
        assert got.keys() == original.keys(), name
        assert all(np.array_equal(got[uid], original[uid]) for uid in original), name
        assert progress and progress[-1].done == 6
        assert not list(result.folder.glob("*.part"))
        results[name] = result

    loaded = load_folder(results["move"].folder)
    scans = loaded.scans
    assert len(scans) == 6 and not loaded.failures
    classifier = Classifier(default_model_path, device="cpu")
    predictions = classifier.classify(scans)
    model_info = ModelInfo.from_classifier(classifier)
    objects = study_result_objects(tmp_path / "out", scans, predictions, model_info)
    kinds = sorted(pydicom.dcmread(p).Modality for p in objects)
    assert len(objects) == (3 if any(p.assessed for p in predictions) else 2)
    sent = dimse.send(objects)
    assert len(sent) == len(objects)

    in_study = dimse.find(StudyQuery(study_uid=match.study_uid))
    by_modality = {m.modality: m for m in in_study}
    assert sorted(by_modality) == sorted(["MR", *kinds])
    sr_result = web.retrieve(by_modality["SR"], root=tmp_path / "readback")
    assert sr_result.complete
    sr = pydicom.dcmread(sr_result.files[0])
    assert sr.StudyInstanceUID == match.study_uid
    assert str(sr.PatientID) == "BL-PACS-7"
    findings = {f["sop_instance_uid"]: f for f in read_findings(sr)}
    expected = {scan.metadata.sop_instance_uid: p for scan, p in zip(scans, predictions)}
    assert findings.keys() == expected.keys() == original.keys()
    for uid, prediction in expected.items():
        finding = findings[uid]
        if prediction.assessed:
            assert finding["finding"] == prediction.predicted_class
            for name, value in zip(prediction.class_names, prediction.probabilities):
                assert finding["probabilities"][name] == pytest.approx(float(value), abs=1e-6)
        else:
            assert finding["finding"] == "not-assessed" and finding["probabilities"] == {}
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == match.series_uid
    assert {r.ReferencedSOPInstanceUID for r in evidence.ReferencedSOPSequence} == set(original)
    import highdicom

    report = highdicom.sr.Comprehensive3DSR.from_dataset(sr)
    texts = {item.name.meaning: item.value for item in report.content[0].ContentSequence
             if item.ValueType == "TEXT"}
    assert texts["Algorithm Name"] == model_info.name and texts["Algorithm Version"] == model_info.version
    assert texts["Model file SHA-256"] == classifier.model_sha256
    pdf_result = dimse.retrieve(by_modality["DOC"], method=GET, root=tmp_path / "readback")
    assert read_encapsulated_pdf(pdf_result.files[0]).startswith(b"%PDF")

    # STOW-RS: a new SR of the same results, sent over DICOMweb, lands in the same study.
    again = study_result_objects(tmp_path / "again", scans, predictions, model_info, kinds=("sr",))
    assert web.send(again) == [pydicom.dcmread(again[0]).SOPInstanceUID]
    assert len([m for m in dimse.find(StudyQuery(study_uid=match.study_uid)) if m.modality == "SR"]) == 2

    log = dimse.audit_log.read_text()
    for identifier in ("Roe", "BL-PACS-7", match.study_uid, match.series_uid, "20260115"):
        assert identifier not in log
    import json

    actions = [json.loads(line)["action"] for line in log.splitlines()]
    assert actions.count("pacs_find") == 5 and actions.count("pacs_retrieve") == 5
    assert actions.count("pacs_send") == 3


def test_corrupt_instance_gives_an_incomplete_series_and_no_cache_file(uploaded, pacs_store, pacs_series, tmp_path):
    bad = pydicom.dcmread(pacs_series[0])
    bad.SOPInstanceUID = pydicom.uid.generate_uid()
    bad.file_meta.MediaStorageSOPInstanceUID = bad.SOPInstanceUID
    bad.PixelData = bytes(bad.PixelData)[:1000]  # cut short: the header says more pixels than there are
    path = tmp_path / "bad.dcm"
    bad.save_as(path, enforce_file_format=True)
    uploaded.send([path])
    match = uploaded.find(StudyQuery(patient_id="BL-PACS-7"))[0]
    assert match.n_images == 7
    web = PacsConnection(pacs_store.get("orthanc-web"), pacs_store)
    for name, connection, method in (("get", uploaded, GET), ("wado", web, None)):
        result = connection.retrieve(match, method=method, root=tmp_path / name)
        assert not result.complete, name
        assert result.received == 6 and result.failed == 1, (name, result)
        assert result.summary().startswith("INCOMPLETE series: 6 of 7 image(s) retrieved"), result.summary()
        assert "could not be read" in result.summary()
        assert not (result.folder / f"{bad.SOPInstanceUID}.dcm").exists()
        assert sorted(p.suffix for p in result.folder.iterdir()) == [".dcm"] * 6


def test_cancelled_retrieve_is_reported_incomplete(uploaded, tmp_path):
    from app.core.runs.progress import CancelToken

    match = uploaded.find(StudyQuery(patient_id="BL-PACS-7"))[0]
    token = CancelToken()
    token.cancel()
    result = uploaded.retrieve(match, method=GET, root=tmp_path, cancel=token)
    assert result.cancelled and not result.complete
    assert result.summary().startswith("INCOMPLETE series") and "cancelled" in result.summary()


def test_wrong_called_ae_title_is_rejected_with_the_reason(orthanc, pacs_store):
    node = replace(pacs_store.get("orthanc"), ae_title="NOT-ORTHANC")
    pacs_store.save(node)
    with pytest.raises(PacsError, match="rejected the association: Called AE title not recognised"):
        PacsConnection(node, pacs_store).echo()


def test_unknown_calling_ae_title_is_refused_by_the_node(orthanc, pacs_store):
    node = replace(pacs_store.get("orthanc"), name="stranger", calling_ae_title="STRANGER")
    pacs_store.save(node)
    with pytest.raises(PacsError, match="aborted the association during the query.*'STRANGER'"):
        PacsConnection(node, pacs_store).find(StudyQuery(patient_id="BL-PACS-7"))


def test_dicomweb_wrong_password_and_wrong_url(orthanc, pacs_store):
    node = pacs_store.get("orthanc-web")
    pacs_store.secrets.set(node.name, "wrong-password")
    with pytest.raises(PacsError, match=r"refused the credentials \(HTTP 401\)"):
        PacsConnection(node, pacs_store).echo()
    pacs_store.secrets.set(node.name, orthanc_server.PASSWORD)
    PacsConnection(node, pacs_store).echo()
    lost = replace(node, name="lost", url=orthanc.rest_url + "/no-such-service")
    pacs_store.save(lost, secret=orthanc_server.PASSWORD)
    with pytest.raises(PacsError, match="HTTP 404"):
        PacsConnection(lost, pacs_store).echo()


def test_dicomweb_over_tls_needs_the_ca_file(orthanc, pacs_store, tmp_path):
    proxy = orthanc_server.TlsProxy(orthanc.http_port, tmp_path)
    try:
        node = replace(pacs_store.get("orthanc-web"), name="tls", url=proxy.url + "/dicom-web")
        pacs_store.save(node, secret=orthanc_server.PASSWORD)
        with pytest.raises(PacsError, match="TLS certificate is not trusted"):
            PacsConnection(node, pacs_store).echo()
        trusted = replace(node, ca_file=str(proxy.ca_file))
        pacs_store.save(trusted)
        PacsConnection(trusted, pacs_store).echo()
    finally:
        proxy.close()


def test_password_lives_in_the_keyring_only(pacs_store, memory_keyring, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    node = pacs_store.get("orthanc-web")
    connection = PacsConnection(node, pacs_store)
    connection.echo()
    assert orthanc_server.PASSWORD not in Path(pacs_store.path).read_text()
    assert orthanc_server.PASSWORD not in repr(node) + repr(connection)
    assert orthanc_server.PASSWORD not in caplog.text
    assert orthanc_server.PASSWORD in memory_keyring.secrets.values()
