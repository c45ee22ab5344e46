"""File ▸ Send results to PACS…: the heatmap (Secondary Capture), the report (Encapsulated PDF) and a
Structured Report, sent into the scan's own study on a configured node — only when the user clicks Send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import PacsError
from app.core.network.nodes import NodeStore
from app.core.runs.progress import Progress
from app.ui import pacs_jobs
from app.ui.workers import GeneratorWorker, start_worker


class PacsSendDialog(QDialog):
    def __init__(self, parent: QWidget | None, scans: Sequence[Any], predictions: Sequence[Any], model_info: Any, *,
                 index: int | None = None, overlay_rgb: Any = None, colormap: str = "inferno", opacity: float = 0.4,
                 store: NodeStore | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send results to PACS")
        self.setObjectName("pacsSendDialog")
        self.store = store or NodeStore()
        self.scans, self.predictions, self.model_info = list(scans), list(predictions), model_info
        self.index, self.overlay_rgb, self.colormap, self.opacity = index, overlay_rgb, colormap, opacity
        self.worker: GeneratorWorker | None = None
        self.sent: list[str] = []

        self.node = QComboBox()
        self.node.setObjectName("pacsSendNode")
        try:
            for node in self.store.nodes():
                self.node.addItem(f"{node.name}  ({node.address})", node.name)
        except PacsError as error:
            self.node.setToolTip(str(error))
        key = self.predictions[index if index is not None and index < len(self.predictions) else 0]
        assessed = bool(getattr(key, "assessed", True))
        self.send_sc = QCheckBox("Heatmap as Secondary Capture (the key image's overlay)")
        self.send_sc.setChecked(assessed)
        self.send_sc.setEnabled(assessed)
        if not assessed:
            self.send_sc.setText("Heatmap: not sent — the key image was not assessed")
        self.send_pdf = QCheckBox("Report as Encapsulated PDF")
        self.send_pdf.setChecked(True)
        self.send_sr = QCheckBox("Structured Report (class, every probability, model name/version/SHA-256)")
        self.send_sr.setChecked(True)
        n_assessed = sum(1 for p in self.predictions if getattr(p, "assessed", True))
        summary = (f"{len(self.scans)} image(s): {n_assessed} classified, {len(self.scans) - n_assessed} not assessed "
                   "(sent as \"not assessed\", never as a class). The objects join the scan's study and are "
                   "marked NOT FOR DIAGNOSTIC USE.")
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("pacsSendProgress")
        self.progress.hide()
        self.status = QLabel("" if self.node.count() else "No PACS node is configured yet: Tools ▸ PACS nodes.")
        self.status.setObjectName("pacsSendStatus")
        self.status.setWordWrap(True)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("pacsSend")
        self.send_button.setEnabled(self.node.count() > 0)
        self.send_button.clicked.connect(self.send)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)

        form = QFormLayout()
        form.addRow("Node", self.node)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        for box in (self.send_sc, self.send_pdf, self.send_sr):
            layout.addWidget(box)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.resize(560, self.sizeHint().height())

    def kinds(self) -> list[str]:
        chosen = ((self.send_sc, "sc"), (self.send_pdf, "pdf"), (self.send_sr, "sr"))
        return [kind for box, kind in chosen if box.isChecked() and box.isEnabled()]

    def send(self) -> None:
        if (self.worker is not None and not self.worker.is_done) or not self.node.currentData():
            return
        kinds = self.kinds()
        if not kinds:
            self.status.setText("Choose at least one thing to send.")
            return
        self.send_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Sending…")
        self.worker = start_worker(pacs_jobs.send_job, self.node.currentData(), self.scans, self.predictions,
                                   self.model_info, kinds, self.index, self.overlay_rgb, self.colormap, self.opacity,
                                   self.store, on_yield=self._progress, on_error=self._failed,
                                   on_finish=self._finished, name="pacs-send")

    def _progress(self, value: Any) -> None:
        if isinstance(value, Progress):
            if value.total:
                self.progress.setRange(0, value.total)
                self.progress.setValue(value.done)
            self.status.setText(value.message)
            return
        self.sent = list(value)
        self.status.setText(f"Sent {len(self.sent)} object(s) to {self.node.currentData()}.")

    def _failed(self, error: BaseException) -> None:
        self.status.setText(str(error))

    def _finished(self) -> None:
        self.progress.hide()
        self.send_button.setEnabled(True)

    def done(self, result: int) -> None:
        if self.worker is not None:
            self.worker.wait(60)
        super().done(result)
