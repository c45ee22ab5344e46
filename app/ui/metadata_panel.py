"""The scan's metadata (patient, study, series, image) in a side panel, with identifiers hideable."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Patient", (("patient_name", "Name"), ("patient_id", "ID"), ("patient_birth_date", "Birth date"),
                 ("patient_sex", "Sex"))),
    ("Study", (("study_date", "Date"), ("study_description", "Description"), ("institution", "Institution"),
               ("study_instance_uid", "Study UID"))),
    ("Series", (("series_description", "Description"), ("modality", "Modality"),
                ("series_instance_uid", "Series UID"))),
    ("Image", (("pixel_spacing", "Pixel spacing"), ("sop_instance_uid", "SOP instance UID"))),
)


def format_value(name: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if name.endswith("_date") and isinstance(value, str) and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if name == "pixel_spacing":
        return " × ".join(f"{float(v):g}" for v in value) + " mm"
    return str(value)


class MetadataPanel(QWidget):
    hide_identifiers_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Field", "Value"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 125)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.hide_identifiers = QCheckBox("Hide patient identifiers")
        self.hide_identifiers.toggled.connect(self._toggled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.hide_identifiers)
        layout.addWidget(self.tree)
        self._scan: Any = None

    def show_scan(self, scan: Any | None) -> None:
        """Fills the tree from ``scan.metadata`` (anonymised when identifiers are hidden)."""
        self._scan = scan
        self.tree.clear()
        if scan is None:
            return
        metadata = scan.metadata.anonymised() if self.hide_identifiers.isChecked() else scan.metadata
        shape = scan.display.shape
        file_item = QTreeWidgetItem(["File", scan.label])
        file_item.setToolTip(1, str(scan.source))
        self.tree.addTopLevelItem(file_item)
        self.tree.addTopLevelItem(QTreeWidgetItem(["Size", f"{shape[1]} × {shape[0]} px"]))
        if scan.metadata.is_empty:
            note = QTreeWidgetItem(["No DICOM metadata (plain image)"])
            self.tree.addTopLevelItem(note)
            note.setFirstColumnSpanned(True)
            return
        for section, fields in SECTIONS:
            header = QTreeWidgetItem([section, ""])
            font = header.font(0)
            font.setBold(True)
            header.setFont(0, font)
            self.tree.addTopLevelItem(header)
            for name, label in fields:
                value = format_value(name, getattr(metadata, name, None))
                item = QTreeWidgetItem([f"  {label}", value])
                item.setToolTip(1, value)
                self.tree.addTopLevelItem(item)

    def shown_scan(self) -> Any | None:
        return self._scan

    def _toggled(self, checked: bool) -> None:
        self.show_scan(self._scan)
        self.hide_identifiers_changed.emit(checked)

    def value_of(self, label: str) -> str | None:
        """The shown value of a row (tests and screenshots)."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(0).strip() == label:
                return item.text(1)
        return None
