"""`brainlens pacs …` and `brainlens classify --from-pacs QUERY --send-results` against a real Orthanc."""

from __future__ import annotations

import io

import pydicom
import pytest

from app import cli, cli_pacs
from app.core.network.query import StudyQuery
from tests import orthanc_server


@pytest.fixture
def configured(orthanc, memory_keyring, tmp_path, monkeypatch, pacs_series):
    monkeypatch.setenv("BRAINLENS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BRAINLENS_CACHE_DIR", str(tmp_path / "cache"))
    orthanc.clear()
    assert _pacs("add", "pacs", "--ae", orthanc_server.ORTHANC_AET, "--host", "127.0.0.1", "--port",
                 str(orthanc.dicom_port), "--move-port", str(orthanc.move_port), "--timeout", "10")[0] == 0
    code, out, _ = _pacs("add", "web", "--url", orthanc.dicomweb_url, "--auth", "basic", "--user",
                         orthanc_server.USER, "--password-stdin", stdin=orthanc_server.PASSWORD + "\n")
    assert code == 0 and "secret is in the system keyring" in out
    assert orthanc_server.PASSWORD not in (tmp_path / "config" / "pacs_nodes.json").read_text()
    return orthanc


def _pacs(*argv, stdin: str = ""):
    out, err = io.StringIO(), io.StringIO()
    code = cli_pacs.main(list(argv), out=out, err=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_pacs_commands(configured, pacs_series, tmp_path):
    assert _pacs("send", "pacs", str(pacs_series[0].parent)) == (0, "6 object(s) sent\n", "")
    code, out, _ = _pacs("echo", "web")
    assert code == 0 and "answered" in out
    code, out, _ = _pacs("find", "pacs", "id=BL-PACS-7,modality=MR")
    assert code == 0 and "Roe^Richard" in out and "T1 AX PACS" in out and out.endswith("1 series found\n")
    code, out, err = _pacs("retrieve", "pacs", "id=BL-PACS-7", "--method", "move", "--to", str(tmp_path / "m"))
    assert code == 0 and "6 of 6 image(s) retrieved" in err
    assert len(list((tmp_path / "m").rglob("*.dcm"))) == 6
    code, _, err = _pacs("retrieve", "pacs", "id=NOBODY")
    assert code == 1 and "Nothing on pacs matches the query" in err
    code, _, err = _pacs("echo", "elsewhere")
    assert code == 1 and "no PACS node called 'elsewhere'; configured: pacs, web" in err
    code, _, err = _pacs("find", "pacs", "when=yesterday")
    assert code == 1 and "KEY=VALUE" in err
    code, out, _ = _pacs("nodes")
    assert out.splitlines() == [f"pacs\tdimse\tORTHANC@127.0.0.1:{configured.dicom_port}",
                                f"web\tdicomweb\t{configured.dicomweb_url}"]


def test_classify_from_pacs_sends_only_when_asked(configured, pacs_series, tmp_path, default_model_path):
    from app.core.model.inference import Classifier
    from app.core.network.nodes import NodeStore
    from app.core.network.pacs import PacsConnection
    from app.core.reports.dicom_sr import read_findings

    assert _pacs("send", "pacs", *map(str, pacs_series))[0] == 0
    classifier = Classifier(default_model_path, device="cpu")
    quiet = cli.build_parser().parse_args(["--from-pacs", "id=BL-PACS-7", "--node", "pacs", "--quiet"])
    assert cli.classify(quiet, out=io.StringIO(), err=io.StringIO(), classifier=classifier) == 0
    assert len(configured.rest_json("GET", "/series")) == 1  # nothing sent: still only the MR series

    out, err = io.StringIO(), io.StringIO()
    args = cli.build_parser().parse_args(["--from-pacs", "id=BL-PACS-7", "--node", "web", "--send-results",
                                          "--csv", str(tmp_path / "r.csv")])
    code = cli.classify(args, out=out, err=err, classifier=classifier)
    assert code == 0, err.getvalue()
    assert "6 scans: " in out.getvalue() and "not assessed, 0 failed" in out.getvalue()
    assert "series 1/1 (MR T1 AX PACS): 6 of 6 image(s) retrieved" in err.getvalue()
    sent = int(err.getvalue().split(" result object(s) sent to web")[0].split()[-1])
    assert sent in (2, 3)  # SC only when a slice was assessed
    store = NodeStore()
    connection = PacsConnection(store.get("pacs"), store)
    study = connection.find(StudyQuery(patient_id="BL-PACS-7"))[0].study_uid
    in_study = connection.find(StudyQuery(study_uid=study))
    assert sorted(m.modality for m in in_study) == sorted(["MR", "DOC", "SR"] + (["OT"] if sent == 3 else []))
    sr_match = next(m for m in in_study if m.modality == "SR")
    sr = pydicom.dcmread(connection.retrieve(sr_match, root=tmp_path / "sr").files[0])
    assert len(read_findings(sr)) == 6
