"""The PACS dialogs against a real Orthanc: node settings, Open from PACS, Send results to PACS."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from tests import orthanc_server  # noqa: E402
from tests.ui_fixtures import (  # noqa: E402
    dialogs,
    no_dangling_workers,
    settings_store,
    tiny_model,
    window,
)

TIMEOUT = 30000


@pytest.fixture
def pacs_env(orthanc, pacs_store, pacs_series, tmp_path, monkeypatch):
    """The user's node settings are ``pacs_store``'s; Orthanc holds only the test series."""
    monkeypatch.setenv("BRAINLENS_CONFIG_DIR", str(pacs_store.path.parent))
    monkeypatch.setenv("BRAINLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BRAINLENS_DATA_DIR", str(tmp_path / "user_data"))
    orthanc.clear()
    from app.core.network.pacs import PacsConnection

    PacsConnection(pacs_store.get("orthanc"), pacs_store).send(pacs_series)
    return orthanc


def test_node_settings_keep_the_password_in_the_keyring_and_test_the_node(qtbot, orthanc, memory_keyring, tmp_path):
    from app.core.network.nodes import NodeStore
    from app.ui.pacs_nodes_dialog import PacsNodesDialog

    store = NodeStore(tmp_path / "nodes.json")
    dialog = PacsNodesDialog(None, store)
    qtbot.addWidget(dialog)
    dialog.name.setText("hospital-web")
    dialog.kind.setCurrentIndex(dialog.kind.findData("dicomweb"))
    assert not dialog.host.isEnabled() and dialog.url.isEnabled()
    dialog.url.setText(orthanc.dicomweb_url)
    dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))
    dialog.username.setText(orthanc_server.USER)
    dialog.secret.setText(orthanc_server.PASSWORD)
    dialog.test_connection()  # saves, then echoes on a worker
    qtbot.waitUntil(lambda: "answered" in dialog.status.text(), timeout=TIMEOUT)
    assert store.names() == ["hospital-web"]
    assert orthanc_server.PASSWORD not in store.path.read_text()
    assert memory_keyring.secrets[("BrainLens PACS", "hospital-web")] == orthanc_server.PASSWORD
    assert dialog.secret.text() == "" and "keyring" in dialog.secret.placeholderText()
    dialog.ae_title.setText("")
    dialog.kind.setCurrentIndex(dialog.kind.findData("dimse"))
    assert not dialog.save() and "AE title" in dialog.status.text()  # a bad form says which field


def test_open_from_pacs_then_send_the_results_back(window, qtbot, pacs_env, pacs_store):
    from app.core.network.pacs import PacsConnection
    from app.core.network.query import StudyQuery
    from app.ui import window_pacs

    dialog = window_pacs.open_from_pacs(window)
    assert dialog.node.count() == 2
    dialog.patient_id.setText("BL-PACS-7")
    dialog.search()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1 and not dialog.busy, timeout=TIMEOUT)
    row = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert row == ["Roe, Richard", "BL-PACS-7", "2026-01-15", "MRI BRAIN / T1 AX PACS", "MR", "6"]
    assert dialog.method.currentData() == "get" and dialog.method.count() == 2  # C-GET, C-MOVE
    dialog.method.setCurrentIndex(1)
    progress_seen = []
    dialog.progress.valueChanged.connect(progress_seen.append)
    dialog.retrieve()
    qtbot.waitUntil(lambda: len(window.view.scans) == 6, timeout=TIMEOUT)  # opened as if dropped
    assert progress_seen and max(progress_seen) == 6
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: len(window.view.predictions) == 6, timeout=TIMEOUT)
    assert window.pacs_send_action.isEnabled()

    send = window_pacs.send_results(window)
    send.node.setCurrentIndex(send.node.findData("orthanc-web"))
    expected = 1 + send.send_sc.isEnabled() + 1  # SC only when the key slice was assessed
    send.send()
    qtbot.waitUntil(lambda: send.status.text().startswith("Sent"), timeout=TIMEOUT)
    assert send.status.text() == f"Sent {expected} object(s) to orthanc-web."
    send.accept()
    connection = PacsConnection(pacs_store.get("orthanc"), pacs_store)
    study = connection.find(StudyQuery(patient_id="BL-PACS-7"))[0].study_uid
    modalities = sorted(m.modality for m in connection.find(StudyQuery(study_uid=study)))
    assert modalities == sorted(["MR", "DOC", "SR"] + (["OT"] if expected == 3 else []))
