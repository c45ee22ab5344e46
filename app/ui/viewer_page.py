"""The centre of the window: the drop hint when empty, else a tool row (window presets, reset),
the two synchronised panes and, for a series, the slice bar with the per-series summary."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.ui.image_view import SyncedViewer

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "brainlens-128.png"


class DropHint(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropPage")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        icon = QLabel()
        if ICON.exists():
            icon.setPixmap(QPixmap(str(ICON)).scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("Drop a brain MRI scan or a folder here")
        title.setObjectName("dropTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        detail = QLabel(
            "DICOM files and series, NIfTI volumes (.nii, .nii.gz, .mgz), JPG, PNG or TIFF.\n"
            "Or use File ▸ Open file (Ctrl+O) or Open folder (Ctrl+Shift+O).\n"
            "A folder of many scans is classified as a batch."
        )
        detail.setObjectName("dropHint")
        detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel("")
        self.message.setObjectName("warnings")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(icon)
        layout.addSpacing(12)
        layout.addWidget(title)
        layout.addSpacing(6)
        layout.addWidget(detail)
        layout.addSpacing(16)
        # in a row of its own, between stretches: a word-wrapped label given a centre alignment gets the
        # height of one line and clips the second
        self.message.setMaximumWidth(720)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.message, 4)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(3)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_drag_active(self, active: bool) -> None:
        """Highlights the page while files are dragged over the window."""
        self.setProperty("dragActive", active)
        self.style().unpolish(self)
        self.style().polish(self)


class SliceBar(QWidget):
    slice_changed = Signal(int)
    jump_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(5)
        self.slider.valueChanged.connect(self.slice_changed)
        self.label = QLabel("")
        self.label.setObjectName("sliceLabel")
        self.label.setMinimumWidth(90)
        self.summary = QLabel("")
        self.summary.setObjectName("sliceLabel")
        self.jump = QPushButton("Jump to slice")
        self.jump.setToolTip("Show the slice with the highest probability of a tumour")
        self.jump.clicked.connect(self.jump_requested)
        self.jump.setEnabled(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 4)
        layout.addWidget(self.label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.jump)

    def set_count(self, count: int, current: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setValue(current)
        self.slider.blockSignals(False)
        self.setVisible(count > 1)


class ViewerPage(QStackedWidget):
    """Page 0: drop hint. Page 1: the viewer."""

    preset_chosen = Signal(int)  # index in the preset combo (0 = the file's own window)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = DropHint()
        self.viewer = SyncedViewer()
        self.presets = QComboBox()
        self.presets.setToolTip("Window/level preset (or right-drag on the image)")
        self.presets.setMinimumWidth(190)
        self.presets.activated.connect(self.preset_chosen)
        self.reset_button = QPushButton("Reset view")
        self.reset_button.setToolTip("Fit the image and restore the file's window (double-click the image)")
        self.ruler_button = QPushButton("Ruler")
        self.ruler_button.setCheckable(True)
        self.ruler_button.setToolTip("Drag on the image to measure a distance in mm (or Shift+drag at any time)")
        self.tags_button = QPushButton("DICOM tags…")
        self.tags_button.setToolTip("Every tag of the slice on screen, searchable (Ctrl+T)")
        self.tools = tools = QHBoxLayout()
        tools.setContentsMargins(8, 4, 8, 2)
        tools.addWidget(QLabel("Window"))
        tools.addWidget(self.presets)
        tools.addWidget(self.reset_button)
        tools.addWidget(self.ruler_button)
        tools.addWidget(self.tags_button)
        help_text = QLabel("Wheel: slices · Ctrl+wheel: zoom · Shift+drag: ruler · right-drag: W/L")
        help_text.setToolTip("Slices: wheel, ←/→, ↑/↓, Page Up/Down (5), Home/End · Ctrl+wheel: zoom · drag: pan · "
                             "Shift+drag (or Ruler): measure in mm · right-drag: window/level · double-click: reset")
        # may be cut short rather than widen the window (it must fit a 1280-pixel screen with both panels)
        help_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        help_text.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tools.addWidget(help_text, 1)
        self.slice_bar = SliceBar()
        self.slice_bar.hide()
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(tools)
        layout.addWidget(self.viewer, 1)
        layout.addWidget(self.slice_bar)
        self.addWidget(self.hint)
        self.addWidget(page)

    def show_hint(self, message: str = "") -> None:
        self.hint.show_message(message)
        self.setCurrentIndex(0)

    def show_viewer(self) -> None:
        self.setCurrentIndex(1)

    def set_presets(self, names: list[str], enabled: bool) -> None:
        self.presets.clear()
        self.presets.addItems(names)
        self.presets.setEnabled(enabled)

    def show_custom_window(self, text: str, position: int) -> None:
        """The user's own window (after a right-drag) named in the preset list: "Custom (W 400  L 40)"."""
        if self.presets.count() <= position:
            self.presets.addItem(text)
        else:
            self.presets.setItemText(position, text)
        self.presets.setCurrentIndex(position)
