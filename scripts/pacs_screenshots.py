"""Screenshots of the PACS dialogs against a real Orthanc (started here on loopback, as the tests do).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/pacs_screenshots.py

Needs Debian's ``orthanc`` and ``orthanc-dicomweb``. Uploads two MNI series (two made-up patients),
uses an in-memory keyring and a temporary config folder (the user's own are never touched), and saves
docs/screenshots/14-pacs-nodes, 15-pacs-query (search results), 16-pacs-retrieved (the series opened
from the PACS) and 17-pacs-send.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.screenshots import open_window, save, wait_until  # noqa: E402


def main() -> int:
    import keyring

    from tests import mri_data, orthanc_server
    from tests.pacs_fixtures import MemoryKeyring

    reason = orthanc_server.unavailable_reason()
    if reason:
        print(reason)
        return 1
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.update(BRAINLENS_CONFIG_DIR=str(folder / "config"), BRAINLENS_CACHE_DIR=str(folder / "cache"),
                          BRAINLENS_DATA_DIR=str(folder / "data"))
        process, server = orthanc_server.start(folder / "orthanc")
        try:
            return _shoot(folder, server, mri_data, orthanc_server)
        finally:
            orthanc_server.stop(process)


def _shoot(folder: Path, server, mri_data, orthanc_server) -> int:
    from app.core.network.nodes import AUTH_BASIC, DICOMWEB, NodeStore, PacsNode
    from app.core.network.pacs import PacsConnection
    from app.ui import window_pacs

    store = NodeStore()
    store.save(PacsNode("Radiology PACS", ae_title=orthanc_server.ORTHANC_AET, host="127.0.0.1",
                        port=server.dicom_port, calling_ae_title=orthanc_server.BRAINLENS_AET,
                        move_port=server.move_port, timeout_s=10))
    store.save(PacsNode("Radiology DICOMweb", kind=DICOMWEB, url=server.dicomweb_url, auth=AUTH_BASIC,
                        username=orthanc_server.USER, timeout_s=10), secret=orthanc_server.PASSWORD)
    connection = PacsConnection(store.get("Radiology PACS"), store)
    connection.send(mri_data.write_dicom_series(folder / "a", range(40, 140, 5), patient_name="Roe^Richard",
                                                patient_id="BL-PACS-7", series_description="T1 AX"))
    connection.send(mri_data.write_dicom_series(folder / "b", range(60, 120, 10), patient_name="Roe^Rita",
                                                patient_id="BL-PACS-9", series_description="T1 AX post-contrast"))

    app, window = open_window(folder, None)

    nodes = window_pacs.edit_nodes(window)
    nodes.nodes_list.setCurrentRow(0)
    wait_until(app, lambda: nodes.isVisible())
    save(nodes, "14-pacs-nodes")
    nodes.accept()

    query = window_pacs.open_from_pacs(window)
    query.patient_name.setText("Roe*")
    query.search()
    wait_until(app, lambda: query.table.rowCount() == 2 and not query.busy)
    save(query, "15-pacs-query")
    query.table.selectRow(0 if query.matches[0].n_images == 20 else 1)
    query.retrieve()
    wait_until(app, lambda: len(window.view.scans) == 20, 120)
    wait_until(app, lambda: len(window.view.predictions) == 20, 300)
    save(window, "16-pacs-retrieved")

    send = window_pacs.send_results(window)
    send.node.setCurrentIndex(send.node.findData("Radiology DICOMweb"))
    send.send()
    wait_until(app, lambda: send.status.text().startswith(("Sent", "Radiology")), 120)
    save(send, "17-pacs-send")
    print(send.status.text())
    send.accept()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
