"""Tools ▸ PACS nodes…: add, edit, test and remove the nodes BrainLens may connect to.

The password or token field writes to the system keyring only (``NodeStore.save``); the field is
never filled back from it — it shows "stored in the keyring" instead.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import PacsError
from app.core.network.nodes import AUTH_NONE, DICOMWEB, DIMSE, NodeStore, PacsNode
from app.ui import pacs_jobs
from app.ui.workers import GeneratorWorker, start_worker

KINDS = (("DICOM (C-FIND / C-GET / C-MOVE / C-STORE)", DIMSE), ("DICOMweb (QIDO / WADO / STOW)", DICOMWEB))
AUTHS = (("None", "none"), ("User name and password", "basic"), ("Bearer token", "bearer"))


class PacsNodesDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, store: NodeStore | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS nodes")
        self.setObjectName("pacsNodesDialog")
        self.store = store or NodeStore()
        self.worker: GeneratorWorker | None = None
        self.nodes_list = QListWidget()
        self.nodes_list.setObjectName("pacsNodeList")
        self.nodes_list.setMinimumWidth(170)
        self.nodes_list.currentTextChanged.connect(self._show_node)
        add, remove = QPushButton("New"), QPushButton("Remove")
        add.clicked.connect(self._new)
        remove.clicked.connect(self._remove)
        left = QVBoxLayout()
        left.addWidget(self.nodes_list)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        left.addLayout(buttons)

        self.name = QLineEdit()
        self.kind = QComboBox()
        for text, value in KINDS:
            self.kind.addItem(text, value)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.ae_title, self.host = QLineEdit(), QLineEdit()
        self.ae_title.setMaxLength(16)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.calling_ae = QLineEdit("BRAINLENS")
        self.calling_ae.setMaxLength(16)
        self.move_port = QSpinBox()
        self.move_port.setRange(0, 65535)
        self.move_port.setSpecialValueText("none (C-GET only)")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.auth = QComboBox()
        for text, value in AUTHS:
            self.auth.addItem(text, value)
        self.username = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setObjectName("pacsSecret")
        self.ca_file = QLineEdit()
        browse = QPushButton("…")
        browse.setMaximumWidth(32)
        browse.clicked.connect(self._browse_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file)
        ca_row.addWidget(browse)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setValue(30)
        self.timeout.setSuffix(" s")

        self.form = QFormLayout()
        self.form.addRow("Name", self.name)
        self.form.addRow("Kind", self.kind)
        self.form.addRow("AE title", self.ae_title)
        self.form.addRow("Host", self.host)
        self.form.addRow("Port", self.port)
        self.form.addRow("BrainLens AE title", self.calling_ae)
        self.form.addRow("C-MOVE port (ours)", self.move_port)
        self.form.addRow("DICOMweb URL", self.url)
        self.form.addRow("Authentication", self.auth)
        self.form.addRow("User name", self.username)
        self.form.addRow("Password / token", self.secret)
        self.form.addRow("CA file (TLS)", ca_row)
        self.form.addRow("Timeout", self.timeout)
        self.status = QLabel("BrainLens connects only to the nodes listed here.")
        self.status.setObjectName("pacsNodeStatus")
        self.status.setWordWrap(True)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        save = QPushButton("Save")
        save.setObjectName("pacsNodeSave")
        save.clicked.connect(self.save)
        actions = QHBoxLayout()
        actions.addWidget(self.test_button)
        actions.addStretch(1)
        actions.addWidget(save)
        right = QVBoxLayout()
        right.addLayout(self.form)
        right.addWidget(self.status)
        right.addLayout(actions)

        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addLayout(body)
        outer.addWidget(close)
        self._reload()
        self._kind_changed()

    # --- the form ---------------------------------------------------------------------------------
    def _reload(self, select: str | None = None) -> None:
        try:
            names = self.store.names()
        except PacsError as error:
            self.status.setText(str(error))
            names = []
        self.nodes_list.clear()
        self.nodes_list.addItems(names)
        if names:
            self.nodes_list.setCurrentRow(names.index(select) if select in names else 0)

    def _kind_changed(self, *_args: Any) -> None:
        dicom = self.kind.currentData() == DIMSE
        for widget in (self.ae_title, self.host, self.port, self.calling_ae, self.move_port):
            widget.setEnabled(dicom)
        for widget in (self.url, self.auth, self.username, self.secret, self.ca_file):
            widget.setEnabled(not dicom)

    def _show_node(self, name: str) -> None:
        if not name:
            return
        node = self.store.get(name)
        self.name.setText(node.name)
        self.kind.setCurrentIndex(self.kind.findData(node.kind))
        self.ae_title.setText(node.ae_title)
        self.host.setText(node.host)
        self.port.setValue(node.port)
        self.calling_ae.setText(node.calling_ae_title)
        self.move_port.setValue(node.move_port or 0)
        self.url.setText(node.url)
        self.auth.setCurrentIndex(self.auth.findData(node.auth))
        self.username.setText(node.username)
        self.secret.clear()
        self.secret.setPlaceholderText("stored in the system keyring" if node.needs_secret else "")
        self.ca_file.setText(node.ca_file)
        self.timeout.setValue(node.timeout_s)

    def node_from_form(self) -> PacsNode:
        return PacsNode(name=self.name.text().strip(), kind=self.kind.currentData(),
                        ae_title=self.ae_title.text().strip(), host=self.host.text().strip(),
                        port=self.port.value(), calling_ae_title=self.calling_ae.text().strip(),
                        move_port=self.move_port.value() or None, url=self.url.text().strip(),
                        auth=self.auth.currentData() or AUTH_NONE, username=self.username.text().strip(),
                        ca_file=self.ca_file.text().strip(), timeout_s=self.timeout.value())

    def _new(self) -> None:
        self.nodes_list.clearSelection()
        for field in (self.name, self.ae_title, self.host, self.url, self.username, self.secret, self.ca_file):
            field.clear()
        self.secret.setPlaceholderText("")
        self.name.setFocus()

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA certificate", "", "PEM files (*.pem *.crt);;All files (*)")
        if path:
            self.ca_file.setText(path)

    # --- actions ----------------------------------------------------------------------------------
    def save(self) -> bool:
        node = self.node_from_form()
        secret = self.secret.text() or None
        try:
            self.store.save(node, secret=secret if node.needs_secret else None)
        except PacsError as error:
            self.status.setText(str(error))
            return False
        self.secret.clear()
        self._reload(node.name)
        self.status.setText(f"Saved {node.name}." + (" Its secret is in the system keyring." if secret else ""))
        return True

    def _remove(self) -> None:
        item = self.nodes_list.currentItem()
        if item is None:
            return
        self.store.remove(item.text())
        self.status.setText(f"Removed {item.text()}.")
        self._reload()

    def test_connection(self) -> None:
        """Saves the form, then echoes the node on a worker (C-ECHO or a one-result QIDO query)."""
        if (self.worker is not None and not self.worker.is_done) or not self.save():
            return
        name = self.name.text().strip()
        self.status.setText(f"Testing {name}…")
        self.test_button.setEnabled(False)
        self.worker = start_worker(pacs_jobs.echo_job, name, self.store,
                                   on_yield=lambda address: self.status.setText(f"{name} ({address}) answered."),
                                   on_error=lambda error: self.status.setText(str(error)),
                                   on_finish=lambda: self.test_button.setEnabled(True), name="pacs-echo")

    def done(self, result: int) -> None:  # closing waits for a running test (it has a timeout)
        if self.worker is not None:
            self.worker.wait(self.timeout.value() + 5)
        super().done(result)
