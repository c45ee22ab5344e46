"""Configured nodes, secrets, queries, the cache and the audit records (no server needed)."""

from __future__ import annotations

import io
import json
import socket

import pydicom
import pytest

from app.core.errors import PacsError
from app.core.network.cache import InstanceWriter
from app.core.network.nodes import AUTH_BASIC, DICOMWEB, NodeStore, PacsNode
from app.core.network.pacs import PacsConnection
from app.core.network.query import StudyQuery, parse_query


@pytest.fixture
def store(tmp_path, memory_keyring):
    return NodeStore(tmp_path / "pacs_nodes.json")


def test_nodes_round_trip_and_the_secret_stays_in_the_keyring(store, memory_keyring):
    web = PacsNode("hospital", kind=DICOMWEB, url="https://pacs.example.org/dicom-web", auth=AUTH_BASIC,
                   username="reader")
    dicom = PacsNode("scanner", ae_title="MRI1", host="10.0.0.5", port=11112, move_port=11113)
    store.save(web, secret="correct horse battery")
    store.save(dicom)
    assert store.nodes() == [web, dicom]
    assert "correct horse battery" not in store.path.read_text()
    assert "correct horse battery" not in repr(web) + repr(store.nodes())
    assert store.secret(web) == "correct horse battery"
    assert memory_keyring.secrets == {("BrainLens PACS", "hospital"): "correct horse battery"}
    store.remove("hospital")
    assert store.names() == ["scanner"] and memory_keyring.secrets == {}


@pytest.mark.parametrize(("node", "complaint"), [
    (PacsNode("", ae_title="A", host="h"), "needs a name"),
    (PacsNode("n", ae_title="WAY-TOO-LONG-AE-TITLE", host="h"), "1 to 16 characters"),
    (PacsNode("n", ae_title="A", host=""), "needs a host"),
    (PacsNode("n", ae_title="A", host="h", port=70000), "between 1 and 65535"),
    (PacsNode("n", kind=DICOMWEB, url="pacs.example.org"), "starts with http"),
    (PacsNode("n", kind=DICOMWEB, url="https://p", auth=AUTH_BASIC), "needs a user name"),
    (PacsNode("n", kind=DICOMWEB, url="https://p", ca_file="/no/such/ca.pem"), "does not exist"),
])
def test_bad_node_settings_are_refused(store, node, complaint):
    with pytest.raises(PacsError, match=complaint):
        store.save(node)


def test_damaged_settings_file_gives_a_clear_error(store):
    store.path.write_text("{not json")
    with pytest.raises(PacsError, match="cannot be read"):
        store.nodes()


def test_an_unconfigured_node_is_never_contacted(store, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    store.save(PacsNode("known", ae_title="KNOWN", host="127.0.0.1", port=port + 1 if port < 65535 else 1))
    stranger = PacsNode("known", ae_title="KNOWN", host="127.0.0.1", port=port)  # same name, other address
    with pytest.raises(PacsError, match="connects only to configured PACS nodes"):
        PacsConnection(stranger, store)
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody knocked
    listener.close()
    with pytest.raises(PacsError, match="no PACS node called 'other'"):
        store.get("other")


def test_query_syntax_and_identifier():
    query = parse_query("patient=Roe*, id=BL-7, date=20260101-20260131, modality=MR")
    assert query == StudyQuery(patient_name="Roe*", patient_id="BL-7", dates="20260101-20260131", modality="MR")
    ds = query.identifier()
    assert ds.QueryRetrieveLevel == "SERIES" and ds.PatientName == "Roe*" and ds.StudyDate == "20260101-20260131"
    assert ds.NumberOfSeriesRelatedInstances == "" and ds.SeriesInstanceUID == ""
    for bad, why in (("colour=red", "KEY=VALUE"), ("date=last week", "YYYYMMDD"), ("", "empty"),
                     ("id=a\\b", "backslash")):
        with pytest.raises(PacsError, match=why):
            parse_query(bad)


def _encoded(path) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmread(path).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_cache_keeps_whole_checked_files_only(tmp_path, pacs_series):
    writer = InstanceWriter(tmp_path / "series")
    (tmp_path / "series" / "1.2.3.dcm.part").write_bytes(b"left by a crash")
    good = _encoded(pacs_series[0])
    assert writer.accept(good)
    assert not writer.accept(good[: len(good) // 2])  # cut short
    assert not writer.accept(b"not dicom at all")
    result = writer.result(expected=3)
    assert [p.name for p in (tmp_path / "series").iterdir()] == [result.files[0].name]
    assert result.received == 1 and result.failed == 2 and not result.complete
    assert result.summary().startswith("INCOMPLETE series: 1 of 3 image(s) retrieved (an instance could not be read")


def test_pacs_audit_records_name_the_node_not_the_patient(tmp_path):
    from app.core.reports.audit import AuditEvent, append_event, verify_audit_log

    log = tmp_path / "audit.jsonl"
    append_event(AuditEvent(action="classify", result="glioma", confidence=0.9), log)
    append_event(AuditEvent(action="pacs_retrieve", node="hospital", count=6, result="complete"), log)
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert "node" not in first  # classification records keep their shape
    assert (second["action"], second["node"], second["count"], second["result"]) == ("pacs_retrieve", "hospital",
                                                                                     6, "complete")
    assert verify_audit_log(log).ok


def test_dicomweb_session_carries_the_node_credentials(tmp_path):
    from app.core.network import dicomweb

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    bearer = PacsNode("b", kind=DICOMWEB, url="https://p/dicom-web", auth="bearer", ca_file=str(ca)).validated()
    session = dicomweb.session(bearer, "token-123")
    assert session.headers["Authorization"] == "Bearer token-123" and session.auth is None
    assert session.verify == str(ca) and session.trust_env is False
    basic = dicomweb.session(PacsNode("a", kind=DICOMWEB, url="https://p", auth=AUTH_BASIC, username="u"), "pw")
    assert basic.auth == ("u", "pw") and "Authorization" not in basic.headers
    assert "token-123" not in repr(bearer)
    query = StudyQuery(patient_name="Roe^Ri*", dates="20260101-")
    assert dicomweb.qido_query_string(query, 5).startswith("PatientName=Roe^Ri*&StudyDate=20260101-&includefield=")
