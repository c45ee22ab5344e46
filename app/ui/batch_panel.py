"""The batch results table: one row per classified scan, filling in live, sortable, exportable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.model.verdict import NOT_ASSESSED_TITLE
from app.core.reports.results_io import item_flags
from app.core.reports.numbers import format_percent_short

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("File", "Patient", "Position", "Class", "Confidence", "P(tumour)", "Flags")
FILE, PATIENT, POSITION, CLASS, CONFIDENCE, P_TUMOUR, FLAGS = range(len(COLUMNS))


@dataclass(frozen=True)
class BatchRow:
    """What the table shows of one batch result (the scan's pixels are not kept)."""

    path: Path
    label: str
    position: str
    frame: int | None
    slice_index: int | None
    ok: bool
    class_name: str
    confidence: float | None
    p_tumour: float | None
    flags: str
    error: str
    is_summary: bool = False
    patient: str = ""  # the DICOM patient's name (or ID); "" for plain images
    assessed: bool = True


def row_from_item(item: Any, display_names: dict[str, str] | None = None,
                  threshold: float | None = None) -> BatchRow:
    """A ``BatchItem`` (app.core.runs.batch) as a table row (``threshold``: the user's low-confidence one)."""
    names = display_names or {}
    prediction = getattr(item, "prediction", None)
    frame = getattr(item, "frame", None)
    slice_index = getattr(item, "slice_index", None)
    position = []
    if slice_index is not None:
        position.append(f"slice {slice_index + 1}")
    if frame is not None:
        position.append(f"frame {frame + 1}")
    ok = getattr(item, "status", "ok") == "ok" and prediction is not None
    patient = " ".join((getattr(item, "patient", None) or "").replace("^", " ").split())
    if ok:
        assessed = bool(getattr(prediction, "assessed", True))
        class_name = names.get(prediction.predicted_class, prediction.predicted_class) if assessed else NOT_ASSESSED_TITLE
        flags = ", ".join(f.replace("_", " ") for f in item_flags(item, threshold))  # as in the CSV and PDF
        return BatchRow(Path(item.path), getattr(item, "label", Path(item.path).name), ", ".join(position),
                        frame, slice_index, True, class_name,
                        float(prediction.confidence) if assessed else None,
                        getattr(prediction, "p_tumour", None) if assessed else None, flags, "",
                        patient=patient, assessed=assessed)
    error = getattr(item, "error", None) or "could not be classified"
    return BatchRow(Path(item.path), getattr(item, "label", Path(item.path).name), ", ".join(position),
                    frame, slice_index, False, "Error", None, None, "", str(error), patient=patient)


def row_from_summary(summary: Any, display_names: dict[str, str] | None = None) -> BatchRow:
    """A ``SeriesSummary`` (or a volume's): the majority class, its top P(tumour) and where that slice is."""
    names = display_names or {}
    majority = summary.majority_class if summary.classified else None
    top = summary.top_slice_index
    plane = getattr(summary, "top_plane", None)  # a volume's slices count in their plane
    parts = [f"highest P(tumour) at {plane + ' ' if plane else ''}slice {top + 1}"] if top is not None else []
    not_assessed = getattr(summary, "not_assessed", 0)
    if not_assessed:
        parts.append(f"{not_assessed} not assessed")
    if summary.failed:
        parts.append(f"{summary.failed} unreadable")
    class_name = f"{names.get(majority, majority)} (majority)" if majority else "No slice classified"
    kind = "Volume" if getattr(summary, "kind", "series") == "volume" else "Series"
    return BatchRow(Path(summary.path), f"▸ {kind}: {summary.label}",
                    f"{summary.classified} of {summary.slice_count} slices", None, top, summary.classified > 0,
                    class_name, None, summary.top_p_tumour, ", ".join(parts), "", is_summary=True,
                    patient=" ".join((getattr(summary, "patient", None) or "").replace("^", " ").split()))


class BatchTableModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[BatchRow] = []
        self.items: list[Any] = []  # the core's items (for CSV/JSON export), pixels dropped
        self.hide_patients = False

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self.items = [], []
        self.endResetModel()

    def add(self, row: BatchRow, item: Any) -> None:
        position = len(self.rows)
        self.beginInsertRows(QModelIndex(), position, position)
        self.rows.append(row)
        self.items.append(item)
        self.endInsertRows()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.error or str(row.path)
        if role == Qt.ItemDataRole.ForegroundRole and not row.ok:
            return QColor(230, 120, 110)
        if role == Qt.ItemDataRole.ForegroundRole and row.flags and column == FLAGS:
            return QColor(224, 179, 74)
        if role == Qt.ItemDataRole.FontRole and row.is_summary:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (CONFIDENCE, P_TUMOUR):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, row: BatchRow, column: int) -> str:
        if column == FILE:
            return row.label
        if column == PATIENT:
            return "—" if self.hide_patients and row.patient else row.patient
        if column == POSITION:
            return row.position
        if column == CLASS:
            return row.class_name
        if column == CONFIDENCE:
            return "" if row.confidence is None else format_percent_short(row.confidence)
        if column == P_TUMOUR:
            return "" if row.p_tumour is None else format_percent_short(row.p_tumour)
        return row.flags if row.ok else row.error

    def _sort_key(self, row: BatchRow, column: int):
        if column == CONFIDENCE:
            return -1.0 if row.confidence is None else row.confidence
        if column == P_TUMOUR:
            return -1.0 if row.p_tumour is None else row.p_tumour
        if column == POSITION:
            return (row.slice_index or 0) * 100000 + (row.frame or 0)
        return self._text(row, column).lower()

    def set_hide_patients(self, hidden: bool) -> None:
        """"Hide patient identifiers" applies to the Patient column too."""
        self.hide_patients = hidden
        if self.rows:
            self.dataChanged.emit(self.index(0, PATIENT), self.index(len(self.rows) - 1, PATIENT))

    def replace_rows(self, rows: list[BatchRow]) -> None:
        """New rows for the same items (the user changed the low-confidence threshold)."""
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()


class BatchPanel(QWidget):
    """Table + progress bar + Cancel + Export CSV. ``row_activated`` carries the BatchRow clicked."""

    row_activated = Signal(object)
    cancel_requested = Signal()
    export_requested = Signal()
    report_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = BatchTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until the user sorts
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        # Fixed widths, not ResizeToContents: that re-measures every row on every insert (slow for
        # thousands of rows arriving live).
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in zip(range(1, len(COLUMNS)), (130, 110, 200, 90, 90, 240)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        self.table.clicked.connect(self._clicked)
        self.table.activated.connect(self._clicked)

        self.status = QLabel("")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(320)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_requested)
        self.export_button.setEnabled(False)
        self.report_button = QPushButton("Export PDF…")
        self.report_button.setToolTip("The batch report: a summary and every scan with its thumbnail")
        self.report_button.clicked.connect(self.report_requested)
        self.report_button.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.progress)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.export_button)
        bar.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.table)

    def start(self, description: str) -> None:
        self.model.clear()
        self.status.setText(description)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.export_button.setEnabled(False)
        self.report_button.setEnabled(False)

    def set_progress(self, done: int, total: int | None, message: str = "") -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        text = message or (f"{done} of {total} classified" if total else f"{done} classified")
        self.status.setText(text)

    def finish(self, message: str) -> None:
        self.status.setText(message)
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.export_button.setEnabled(self.model.rowCount() > 0)
        self.report_button.setEnabled(self.model.rowCount() > 0)

    def _clicked(self, index: QModelIndex) -> None:
        source = self.proxy.mapToSource(index)
        if source.isValid():
            self.row_activated.emit(self.model.rows[source.row()])
