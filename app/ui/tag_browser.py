"""View ▸ DICOM tags…: every tag of the slice on screen, with a search box (``app.core.scans.dicom_tags``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.core.scans.dicom_tags import TagRow, read_tags


class TagBrowser(QDialog):
    """Tag, name, VR and value of every element; typing in the box keeps only the matching rows."""

    def __init__(self, path: Path, *, hide_identifiers: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"DICOM tags — {path.name}")
        self.resize(760, 560)
        self.rows: list[TagRow] = read_tags(path, hide_identifiers=hide_identifiers)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tags, names or values (e.g. 0028, Spacing, MR)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        for column, width in enumerate((100, 220, 40)):
            self.tree.setColumnWidth(column, width)
        for row in self.rows:
            item = QTreeWidgetItem([row.tag, "  " * row.depth + row.keyword, row.vr, row.value])
            item.setToolTip(3, row.value)
            self.tree.addTopLevelItem(item)
        self.count = QLabel("")
        note = " · identifiers hidden" if hide_identifiers else ""
        self.note = note
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.count)
        self._filter("")

    def visible_rows(self) -> list[TagRow]:
        return [row for i, row in enumerate(self.rows) if not self.tree.topLevelItem(i).isHidden()]

    def _filter(self, text: str) -> None:
        shown = 0
        for i, row in enumerate(self.rows):
            match = row.matches(text)
            self.tree.topLevelItem(i).setHidden(not match)
            shown += match
        self.count.setText(f"{shown} of {len(self.rows)} tags{self.note}")
