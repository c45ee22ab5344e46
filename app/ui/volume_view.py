"""The three-plane view of a volume: axial, coronal and sagittal panes linked by a crosshair.

Each pane scrolls its own slices (wheel, or its slider), a click or drag moves the crosshair and
the other two panes follow it, right-drag changes window/level in all three. The Grad-CAM maps of
the classified axial slices are gathered into a heatmap volume (``app.core.runs.volumes.HeatmapVolume``)
and drawn in every plane. Below the panes: the voxel size, the window, the overlay switch and the
P(tumour)-by-slice curve (click it to go to a slice). All image work is core calls; this module draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.core.model.gradcam import overlay
from app.core.runs.volumes import HeatmapVolume
from app.core.scans.volume import (
    PLANES,
    RADIOLOGICAL,
    canonical_index,
    cut_plane,
    display_position,
    plane_labels,
    plane_view,
)
from app.ui.qimage import to_qimage

CROSS = QColor(80, 200, 255)
TEXT = QColor(214, 220, 226)
CURVE = QColor(70, 140, 220)


class PlanePane(QWidget):
    """One plane's slice, fitted to the pane, with the crosshair and the orientation letters."""

    clicked = Signal(float, float)  # (row, col) in the slice's pixels
    scrolled = Signal(int)  # +1 / -1 slices
    window_dragged = Signal(float, float)
    window_drag_finished = Signal()

    def __init__(self, plane: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plane = plane
        self.setObjectName(f"pane_{plane}")
        self.setMinimumSize(150, 150)
        self._image: QImage | None = None
        self._shape = (1, 1)
        self._cross: tuple[float, float] | None = None
        self._labels: dict[str, str] = {}
        self._caption = ""
        self._drag_origin: QPointF | None = None

    def set_content(self, image: np.ndarray, cross: tuple[float, float], labels: dict[str, str], caption: str) -> None:
        self._image, self._shape = to_qimage(image), image.shape[:2]
        self._cross, self._labels, self._caption = cross, labels, caption
        self.update()

    def image(self) -> QImage | None:
        """The slice shown, at its own size (None before the first one)."""
        return self._image

    def orientation_label(self, side: str) -> str:
        """The orientation letter at that edge ("top", "bottom", "left" or "right"), e.g. "L"."""
        return self._labels.get(side, "")

    def _target(self) -> QRectF:
        rows, cols = self._shape
        scale = min(self.width() / cols, self.height() / rows)
        w, h = cols * scale, rows * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0))
        if self._image is None:
            return
        target = self._target()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        if self._cross is not None:
            rows, cols = self._shape
            y = target.top() + self._cross[0] / rows * target.height()
            x = target.left() + self._cross[1] / cols * target.width()
            painter.setPen(QPen(CROSS, 1, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(target.left(), y), QPointF(target.right(), y))
            painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
        painter.setPen(TEXT)
        box = self.rect().adjusted(6, 4, -6, -4)
        align = Qt.AlignmentFlag
        painter.drawText(box, align.AlignHCenter | align.AlignTop, self._labels.get("top", ""))
        painter.drawText(box, align.AlignHCenter | align.AlignBottom, self._labels.get("bottom", ""))
        painter.drawText(box, align.AlignLeft | align.AlignVCenter, self._labels.get("left", ""))
        painter.drawText(box, align.AlignRight | align.AlignVCenter, self._labels.get("right", ""))
        painter.drawText(box, align.AlignLeft | align.AlignTop, self._caption)

    def _slice_point(self, pos: QPointF) -> tuple[float, float]:
        target = self._target()
        rows, cols = self._shape
        row = (pos.y() - target.top()) / max(target.height(), 1) * rows
        col = (pos.x() - target.left()) / max(target.width(), 1) * cols
        return min(max(row, 0.0), rows - 1.0), min(max(col, 0.0), cols - 1.0)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self._drag_origin = event.position()
        elif event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(*self._slice_point(event.position()))

    def mouseMoveEvent(self, event) -> None:
        if self._drag_origin is not None:
            delta = event.position() - self._drag_origin
            self.window_dragged.emit(delta.x(), delta.y())
        elif event.buttons() & Qt.MouseButton.LeftButton:
            self.clicked.emit(*self._slice_point(event.position()))

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_origin is not None:
            self._drag_origin = None
            self.window_drag_finished.emit()

    def wheelEvent(self, event) -> None:
        self.scrolled.emit(1 if event.angleDelta().y() > 0 else -1)


class ProfileCurve(QWidget):
    """P(tumour) by axial slice (None: skipped or not assessed); the current slice is marked."""

    slice_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profileCurve")
        self.setMinimumHeight(70)
        self.values: list[float | None] = []
        self.current = 0

    def set_values(self, values: list[float | None], current: int) -> None:
        self.values, self.current = list(values), current
        self.update()

    def _x(self, i: int) -> float:
        n = max(len(self.values) - 1, 1)
        return 40 + (self.width() - 50) * i / n

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top, bottom = 14, self.height() - 8
        painter.setPen(TEXT)
        painter.drawText(4, 11, "P(tumour) by axial slice")
        for level in (0.0, 0.5, 1.0):
            y = bottom - (bottom - top) * level
            painter.setPen(QColor(90, 96, 104))
            painter.drawLine(QPointF(40, y), QPointF(self.width() - 10, y))
            painter.drawText(QRectF(0, y - 7, 36, 14), Qt.AlignmentFlag.AlignRight, f"{int(level * 100)}%")
        painter.setPen(QPen(CURVE, 2))
        last = None
        for i, v in enumerate(self.values):
            point = None if v is None else QPointF(self._x(i), bottom - (bottom - top) * float(v))
            if point is not None and last is not None:
                painter.drawLine(last, point)
            last = point
        if self.values:
            painter.setPen(QPen(CROSS, 1, Qt.PenStyle.DashLine))
            x = self._x(self.current)
            painter.drawLine(QPointF(x, top), QPointF(x, bottom))

    def mousePressEvent(self, event) -> None:
        if len(self.values) > 1:
            fraction = (event.position().x() - 40) / max(self.width() - 50, 1)
            self.slice_chosen.emit(int(round(min(max(fraction, 0.0), 1.0) * (len(self.values) - 1))))


class VolumePanel(QWidget):
    """The three panes and their controls for one ``app.core.scans.volume.Volume``."""

    back_requested = Signal()  # the user wants the single-slice view (scan + heatmap side by side)
    axial_changed = Signal(int)  # the crosshair moved to another axial slice

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("volumePanel")
        self.volume: Any = None
        self.convention = RADIOLOGICAL
        self.window: tuple[float, float] | None = None
        self._drag_window: tuple[float, float] | None = None
        self.cursor = [0, 0, 0]  # canonical voxel under the crosshair
        self.colormap, self.opacity = "inferno", 0.4
        self._heat: HeatmapVolume | None = None
        self._heat_volume: np.ndarray | None = None
        self.profile: list[float | None] = []
        self.panes = {plane: PlanePane(plane) for plane in PLANES}
        self.sliders = {plane: QSlider(Qt.Orientation.Horizontal) for plane in PLANES}
        grid = QGridLayout()
        for column, plane in enumerate(PLANES):
            pane, slider = self.panes[plane], self.sliders[plane]
            pane.clicked.connect(lambda r, c, p=plane: self._clicked(p, r, c))
            pane.scrolled.connect(lambda step, p=plane: self.move_slice(p, step))
            pane.window_dragged.connect(self._window_dragged)
            pane.window_drag_finished.connect(self._window_drag_finished)
            slider.valueChanged.connect(lambda value, p=plane: self.set_slice(p, value))
            grid.addWidget(pane, 0, column)
            grid.addWidget(slider, 1, column)
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(0, 1)
        self.info = QLabel("")
        self.info.setObjectName("volumeInfo")
        self.show_heatmap = QCheckBox("Grad-CAM overlay")
        self.show_heatmap.setChecked(True)
        self.show_heatmap.toggled.connect(lambda _: self.render())
        self.back = QPushButton("Slice view")
        self.back.setToolTip("Show one axial slice beside its heatmap")
        self.back.clicked.connect(self.back_requested)
        self.curve = ProfileCurve()
        self.curve.slice_chosen.connect(lambda i: self.set_slice("axial", i))
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(self.show_heatmap)
        row.addWidget(self.back)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(grid, 1)
        layout.addLayout(row)
        layout.addWidget(self.curve)

    # --- content ---------------------------------------------------------------------------------
    def set_volume(self, volume: Any, convention: str = RADIOLOGICAL) -> None:
        self.volume, self.convention, self.window = volume, convention, None
        self._heat = HeatmapVolume(volume.shape, volume.voxel_size)
        self._heat_volume = None
        self.profile = [None] * volume.slice_count("axial")
        self.cursor = [n // 2 for n in volume.shape]
        for plane in PLANES:
            slider = self.sliders[plane]
            slider.blockSignals(True)
            slider.setRange(0, volume.slice_count(plane) - 1)
            slider.setValue(self.cursor[plane_view(plane).slice_axis])
            slider.blockSignals(False)
        self.render()

    def add_prediction(self, scan: Any, prediction: Any) -> None:
        """A classified slice of this volume: its map joins the heatmap volume, its P(tumour) the curve."""
        if self.volume is None or getattr(scan, "volume", None) is not self.volume or scan.slice_index is None:
            return
        self._heat.add(scan.plane or "axial", scan.slice_index, prediction.heatmap())
        self._heat_volume = None
        if (scan.plane or "axial") == "axial" and getattr(prediction, "assessed", True):
            self.profile[scan.slice_index] = prediction.p_tumour
        self.render()

    def set_style(self, colormap: str, opacity: float) -> None:
        self.colormap, self.opacity = colormap, opacity
        self.render()

    # --- navigation ------------------------------------------------------------------------------
    def set_slice(self, plane: str, index: int) -> None:
        if self.volume is None:
            return
        axis = plane_view(plane).slice_axis
        self._move_to([*self.cursor[:axis], min(max(int(index), 0), self.volume.shape[axis] - 1),
                       *self.cursor[axis + 1:]])

    def _move_to(self, voxel: list[int]) -> None:
        axial_before = self.cursor[2]
        self.cursor = list(voxel)
        self.render()
        if self.cursor[2] != axial_before:
            self.axial_changed.emit(self.cursor[2])

    def move_slice(self, plane: str, step: int) -> None:
        self.set_slice(plane, self.cursor[plane_view(plane).slice_axis] + step)

    def _clicked(self, plane: str, row: float, col: float) -> None:
        view = plane_view(plane, self.convention)
        voxel = canonical_index(plane, self.cursor[view.slice_axis], int(row), int(col), self.volume.shape,
                                self.volume.voxel_size, self.convention)
        self._move_to(list(voxel))

    def _window_dragged(self, dx: float, dy: float) -> None:
        if self.volume is None:
            return
        if self._drag_window is None:
            self._drag_window = self.window or self.volume.window
        centre, width = self._drag_window
        self.window = (centre - dy * width / 200.0, max(1e-3, width * float(np.exp(dx / 200.0))))
        self.render()

    def _window_drag_finished(self) -> None:
        self._drag_window = None

    # --- drawing ---------------------------------------------------------------------------------
    def heat_volume(self) -> np.ndarray | None:
        if self._heat is None:
            return None
        if self._heat_volume is None:
            self._heat_volume = self._heat.result()
        return self._heat_volume

    def render(self) -> None:
        volume = self.volume
        if volume is None:
            return
        window = self.window or volume.window
        heat = self.heat_volume() if self.show_heatmap.isChecked() and any(v is not None for v in self.profile) \
            else None
        for plane in PLANES:
            index = self.cursor[plane_view(plane).slice_axis]
            image = volume.display_slice(plane, index, self.convention, window)
            if heat is not None:
                image = overlay(image, cut_plane(heat, plane, index, volume.voxel_size, self.convention),
                                self.opacity, self.colormap)
            cross = display_position(plane, tuple(self.cursor), volume.shape, volume.voxel_size, self.convention)
            caption = f"{plane} {index + 1}/{volume.slice_count(plane)}"
            self.panes[plane].set_content(image, cross, plane_labels(plane, self.convention), caption)
            slider = self.sliders[plane]
            slider.blockSignals(True)
            slider.setValue(index)
            slider.blockSignals(False)
        size = " × ".join(f"{v:.3g}" for v in volume.voxel_size)
        shape = " × ".join(str(n) for n in volume.shape)
        self.info.setText(f"{shape} voxels of {size} mm · window {window[0]:.4g}/{window[1]:.4g} · "
                          f"{self.convention} convention" + "".join(f"\n{n}" for n in volume.notes))
        self.curve.set_values(self.profile, self.cursor[2])
