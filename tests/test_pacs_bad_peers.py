"""Peers that misbehave: refused connections, silence, rejections, a C-GET that drops mid-transfer.

Every case must end within its timeout with a sentence that says what happened, and leave no
half-written file in the cache. The peers are small servers on loopback (pynetdicom SCPs and raw
sockets), so each failure is exactly the one named.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet, Verification

from app.core.errors import PacsError
from app.core.network import dicomweb, dimse
from app.core.network.nodes import DICOMWEB, PacsNode
from app.core.network.query import SeriesMatch, StudyQuery
from tests.orthanc_server import free_port

TIMEOUT_S = 1.0


def _node(port: int, **changes) -> PacsNode:
    return replace(PacsNode("peer", ae_title="PEER", host="127.0.0.1", port=port, timeout_s=TIMEOUT_S), **changes)


class SilentPeer:
    """Accepts TCP connections and never says a word (a hung PACS, a firewall that swallows packets)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_peer():
    peer = SilentPeer()
    yield peer
    peer.close()


def _timed(call):
    started = time.monotonic()
    with pytest.raises(PacsError) as info:
        call()
    return str(info.value), time.monotonic() - started


def test_connection_refused_is_said_at_once():
    message, seconds = _timed(lambda: dimse.echo(_node(free_port())))
    assert "refused the connection" in message and "peer (PEER@127.0.0.1:" in message
    assert seconds < TIMEOUT_S * 3


def test_a_silent_peer_times_out(silent_peer):
    message, seconds = _timed(lambda: dimse.find(_node(silent_peer.port), StudyQuery(patient_id="X")))
    assert "did not answer it within 1 s" in message or "did not accept an association within 1 s" in message
    assert seconds < TIMEOUT_S * 6  # the association request, and the one retry


def test_a_silent_dicomweb_service_times_out(silent_peer):
    node = PacsNode("web", kind=DICOMWEB, url=f"http://127.0.0.1:{silent_peer.port}/dicom-web", timeout_s=TIMEOUT_S)
    message, seconds = _timed(lambda: dicomweb.echo(node, None))
    assert message == f"web ({node.url}) did not answer a test query within 1 s."
    assert seconds < TIMEOUT_S * 4


def test_unknown_host_is_named():
    message, _ = _timed(lambda: dimse.echo(_node(104, host="no-such-host.invalid")))
    assert message == "peer: the host name 'no-such-host.invalid' is unknown."


@pytest.fixture
def picky_scp():
    """An SCP that accepts only the calling AE title "FRIEND"."""
    ae = AE(ae_title="PEER")
    ae.add_supported_context(Verification)
    ae.require_calling_aet = ["FRIEND"]
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    yield port
    server.shutdown()


def test_association_rejected_gives_the_reason(picky_scp):
    message, _ = _timed(lambda: dimse.echo(_node(picky_scp, calling_ae_title="BRAINLENS")))
    assert "rejected the association: Calling AE title not recognised" in message
    dimse.echo(_node(picky_scp, calling_ae_title="FRIEND"))  # the same peer, the right AE title


@pytest.fixture
def dropping_get_scp(pacs_series):
    """A C-GET SCP that sends two of the series' six images, then drops the connection."""
    datasets = [pydicom.dcmread(p) for p in pacs_series]
    ae = AE(ae_title="PEER")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    for uid in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_supported_context(uid, scp_role=True, scu_role=False)

    def on_get(event):
        yield len(datasets)
        for n, ds in enumerate(datasets):
            if n == 2:
                event.assoc.abort()
                return
            yield 0xFF00, ds

    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_GET, on_get)])
    yield port, datasets
    server.shutdown()


def test_a_peer_that_drops_mid_transfer_leaves_an_incomplete_series(dropping_get_scp, tmp_path):
    port, datasets = dropping_get_scp
    match = SeriesMatch(study_uid=str(datasets[0].StudyInstanceUID), series_uid=str(datasets[0].SeriesInstanceUID),
                        n_images=6)
    started = time.monotonic()
    result = dimse.retrieve_get(_node(port), match, tmp_path / "cache")
    assert time.monotonic() - started < TIMEOUT_S * 6
    assert not result.complete
    assert result.received == 2 and result.expected == 6
    assert result.summary().startswith("INCOMPLETE series: 2 of 6 image(s) retrieved")
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert names == sorted(f"{ds.SOPInstanceUID}.dcm" for ds in datasets[:2])  # whole files only, no .part
    for path in result.files:
        assert pydicom.dcmread(path).pixel_array.shape == datasets[0].pixel_array.shape
