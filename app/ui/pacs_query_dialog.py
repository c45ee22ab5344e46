"""File ▸ Open from PACS…: search a configured node, pick a series, retrieve it (progress, Cancel).

``series_retrieved(folder, summary)`` fires when a retrieval ends with images in the cache; the
window opens the folder as if it had been dropped. An incomplete series says so before it opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import PacsError
from app.core.network.nodes import DICOMWEB, NodeStore
from app.core.network.query import StudyQuery
from app.core.reports.patient_header import dicom_date, person_name
from app.core.runs.progress import CancelToken, Progress
from app.ui import pacs_jobs
from app.ui.workers import GeneratorWorker, start_worker

COLUMNS = ("Patient", "Patient ID", "Study date", "Description", "Modality", "Images")


def match_row(match: Any) -> list[str]:
    description = " / ".join(t for t in (match.study_description, match.series_description) if t)
    images = "" if match.n_images is None else str(match.n_images)
    return [person_name(match.patient_name), match.patient_id, dicom_date(match.study_date), description,
            match.modality, images]


class PacsQueryDialog(QDialog):
    series_retrieved = Signal(object, str)  # cache folder, summary

    def __init__(self, parent: QWidget | None = None, store: NodeStore | None = None,
                 cache_root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.setObjectName("pacsQueryDialog")
        self.resize(860, 520)
        self.store = store or NodeStore()
        self.cache_root = cache_root
        self.matches: list[Any] = []
        self.worker: GeneratorWorker | None = None
        self.cancel_token: CancelToken | None = None
        self.last_result: Any = None

        self.node = QComboBox()
        self.node.setObjectName("pacsNode")
        self.node.currentIndexChanged.connect(self._node_changed)
        self.patient_name, self.patient_id = QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("e.g. Roe* (wildcards allowed)")
        self.date_from, self.date_to = QLineEdit(), QLineEdit()
        for field in (self.date_from, self.date_to):
            field.setPlaceholderText("YYYYMMDD")
            field.setMaxLength(8)
        self.modality = QComboBox()
        self.modality.addItems(["", "MR", "CT", "PT", "OT"])
        self.modality.setCurrentText("MR")
        self.description = QLineEdit()
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("pacsSearch")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        form = QGridLayout()
        paired_rows = (
            (("Node", self.node), ("Modality", self.modality)),
            (("Patient name", self.patient_name), ("Patient ID", self.patient_id)),
            (("Study date from", self.date_from), ("to", self.date_to)),
        )
        for row, pairs in enumerate(paired_rows):  # each row: label, field, label, field
            for pair, (label, widget) in enumerate(pairs):
                form.addWidget(QLabel(label), row, 2 * pair)
                form.addWidget(widget, row, 2 * pair + 1)
        form.addWidget(QLabel("Description"), 3, 0)
        form.addWidget(self.description, 3, 1, 1, 3)
        form.addWidget(self.search_button, 3, 4)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("pacsResults")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda *_: self.retrieve())

        self.method = QComboBox()
        self.method.setObjectName("pacsMethod")
        self.progress = QProgressBar()
        self.progress.setObjectName("pacsProgress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status = QLabel("Search a configured node (Tools ▸ PACS nodes).")
        self.status.setObjectName("pacsStatus")
        self.status.setWordWrap(True)
        self.retrieve_button = QPushButton("Retrieve and open")
        self.retrieve_button.setObjectName("pacsRetrieve")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("pacsCancel")
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Retrieve with"))
        bottom.addWidget(self.method)
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(bottom)
        self._load_nodes()
        self._update_buttons()

    # --- state ------------------------------------------------------------------------------------
    def _load_nodes(self) -> None:
        try:
            nodes = self.store.nodes()
        except PacsError as error:
            nodes = []
            self.status.setText(str(error))
        self.node.clear()
        for node in nodes:
            self.node.addItem(f"{node.name}  ({node.address})", node.name)
        if not nodes:
            self.status.setText("No PACS node is configured yet: add one under Tools ▸ PACS nodes.")
        self._node_changed()

    def _node_changed(self, *_args: Any) -> None:
        self.method.clear()
        name = self.node.currentData()
        if not name:
            return
        node = self.store.get(name)
        if node.kind == DICOMWEB:
            self.method.addItem("WADO-RS", "wado")
        else:
            self.method.addItem("C-GET", "get")
            if node.move_port:
                self.method.addItem(f"C-MOVE (to port {node.move_port})", "move")

    @property
    def busy(self) -> bool:
        return self.worker is not None and not self.worker.is_done

    def _update_buttons(self) -> None:
        busy = self.busy
        self.search_button.setEnabled(not busy and bool(self.node.currentData()))
        self.retrieve_button.setEnabled(not busy and self.selected_match() is not None)
        self.cancel_button.setEnabled(busy and self.cancel_token is not None)

    def query(self) -> StudyQuery:
        start, end = self.date_from.text().strip(), self.date_to.text().strip()
        dates = start if start == end else f"{start}-{end}"  # "A-B", "A-" (from A on), "-B" (up to B)
        return StudyQuery(patient_name=self.patient_name.text().strip(), patient_id=self.patient_id.text().strip(),
                          dates=dates, modality=self.modality.currentText().strip(),
                          description=self.description.text().strip()).validated()

    def selected_match(self) -> Any:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.matches[rows[0].row()] if rows and rows[0].row() < len(self.matches) else None

    # --- search -----------------------------------------------------------------------------------
    def search(self) -> None:
        if self.busy or not self.node.currentData():
            return
        try:
            query = self.query()
        except PacsError as error:
            self.status.setText(str(error))
            return
        self.status.setText("Searching…")
        self.cancel_token = None
        self.worker = start_worker(pacs_jobs.find_job, self.node.currentData(), query, self.store,
                                   on_yield=self._show_matches, on_error=self._failed,
                                   on_finish=self._update_buttons, name="pacs-find")
        self._update_buttons()

    def _show_matches(self, matches: list[Any]) -> None:
        self.matches = list(matches)
        self.table.setRowCount(len(self.matches))
        for row, match in enumerate(self.matches):
            for column, text in enumerate(match_row(match)):
                item = QTableWidgetItem(text)
                if column == 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        if self.matches:
            self.table.selectRow(0)
        self.status.setText(f"{len(self.matches)} series found." if self.matches else "Nothing matches.")

    # --- retrieve ---------------------------------------------------------------------------------
    def retrieve(self) -> None:
        match = self.selected_match()
        if self.busy or match is None:
            return
        self.cancel_token = CancelToken()
        self.progress.setRange(0, match.n_images or 0)
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("Retrieving…")
        self.worker = start_worker(pacs_jobs.retrieve_job, self.node.currentData(), match, self.method.currentData(),
                                   self.cancel_token, self.store, self.cache_root, cancel=self.cancel_token,
                                   on_yield=self._retrieved, on_error=self._failed,
                                   on_finish=self._retrieve_finished, name="pacs-retrieve")
        self._update_buttons()

    def _retrieved(self, value: Any) -> None:
        if isinstance(value, Progress):
            if value.total:
                self.progress.setRange(0, value.total)
            self.progress.setValue(value.done)
            self.status.setText(value.message or "Retrieving…")
            return
        self.last_result = value
        self.status.setText(value.summary())
        if value.files and not value.cancelled:
            self.series_retrieved.emit(value.folder, value.summary())

    def _retrieve_finished(self) -> None:
        self.progress.hide()
        self.cancel_token = None
        self._update_buttons()

    def cancel(self) -> None:
        if self.worker is not None and self.busy:
            self.worker.quit()
            self.status.setText("Cancelling…")

    def _failed(self, error: BaseException) -> None:
        self.status.setText(str(error))

    def done(self, result: int) -> None:  # closing cancels a retrieval and waits for it (bounded by timeouts)
        if self.worker is not None:
            self.worker.quit()
            self.worker.wait(60)
        super().done(result)
