"""Fixtures for the PACS tests: a real Orthanc (session), an in-memory keyring, configured nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import orthanc_server


class MemoryKeyring:
    """A keyring backend that keeps secrets in a dict: no real keyring, no file is ever touched."""

    def __new__(cls):
        from keyring.backend import KeyringBackend

        class _Backend(KeyringBackend):
            priority = 1

            def __init__(self) -> None:
                super().__init__()
                self.secrets: dict[tuple[str, str], str] = {}

            def get_password(self, service, username):
                return self.secrets.get((service, username))

            def set_password(self, service, username, password):
                self.secrets[(service, username)] = password

            def delete_password(self, service, username):
                from keyring.errors import PasswordDeleteError

                if self.secrets.pop((service, username), None) is None:
                    raise PasswordDeleteError("no such password")

        return _Backend()


@pytest.fixture
def memory_keyring():
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A running Orthanc on free loopback ports (stopped after the session)."""
    reason = orthanc_server.unavailable_reason()
    if reason:
        pytest.skip(reason)
    process, server = orthanc_server.start(tmp_path_factory.mktemp("orthanc"))
    yield server
    orthanc_server.stop(process)


@pytest.fixture
def pacs_store(tmp_path, memory_keyring, orthanc):
    """A NodeStore with Orthanc as a DICOM node ("orthanc") and as a DICOMweb node ("orthanc-web")."""
    from app.core.network.nodes import AUTH_BASIC, DICOMWEB, NodeStore, PacsNode

    store = NodeStore(tmp_path / "config" / "pacs_nodes.json")
    store.save(PacsNode("orthanc", ae_title=orthanc_server.ORTHANC_AET, host="127.0.0.1",
                        port=orthanc.dicom_port, calling_ae_title=orthanc_server.BRAINLENS_AET,
                        move_port=orthanc.move_port, timeout_s=10))
    store.save(PacsNode("orthanc-web", kind=DICOMWEB, url=orthanc.dicomweb_url, auth=AUTH_BASIC,
                        username=orthanc_server.USER, timeout_s=10), secret=orthanc_server.PASSWORD)
    return store


@pytest.fixture(scope="session")
def pacs_series(tmp_path_factory) -> list[Path]:
    """Six real MNI axial slices as one MR series (its own study, patient "Roe^Richard")."""
    from tests import mri_data

    return mri_data.write_dicom_series(tmp_path_factory.mktemp("pacs_series"), range(60, 120, 10),
                                       patient_name="Roe^Richard", patient_id="BL-PACS-7",
                                       series_description="T1 AX PACS")
