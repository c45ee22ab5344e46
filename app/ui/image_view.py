"""The viewer: two synchronised panes, the scan on the left and its Grad-CAM overlay on the right.

Mouse: in a series the wheel moves through slices and Ctrl+wheel zooms about the cursor (as in RadiAnt
and Weasis; a single image zooms with the wheel alone), left-drag pans, Shift+left-drag (or left-drag
with the ruler on) measures a distance in mm from the DICOM Pixel Spacing, right-drag adjusts
window/level (the panes only report the drag; the window re-windows the scan through
app.core.scans.windowing), double-click resets. Both panes always show the same part of the image at
the same zoom. The overlay pane draws the colour map's bar (low → high contribution).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QLinearGradient, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QSplitter,
    QWidget,
)

from app.ui.qimage import to_pixmap

ZOOM_STEP = 1.15
ZOOM_RANGE = (0.05, 40.0)
TEXT_COLOUR = QColor(214, 220, 226)
HINT_COLOUR = QColor(130, 138, 148)
RULER_COLOUR = QColor(120, 220, 255)


def distance_mm(start: QPointF, end: QPointF, spacing: tuple[float, float] | None) -> float | None:
    """The length of a line in image pixels as millimetres (``spacing``: DICOM (row, column) mm)."""
    if not spacing:
        return None
    dx_mm = (end.x() - start.x()) * float(spacing[1])
    dy_mm = (end.y() - start.y()) * float(spacing[0])
    return float((dx_mm**2 + dy_mm**2) ** 0.5)


class ImagePane(QGraphicsView):
    """One pane: an image, corner annotations and a centred hint when there is nothing to show."""

    view_changed = Signal()  # zoom or pan by the user
    window_drag_started = Signal()
    window_dragged = Signal(float, float)  # total dx, dy (screen pixels) since the drag started
    window_drag_finished = Signal()
    reset_requested = Signal()
    slice_scrolled = Signal(int)  # wheel steps in a series: +1 the next slice, -1 the previous one

    def __init__(self, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self._hint = hint
        self._corners: dict[str, str] = {}
        self._fit = True
        self._drag_origin: QPointF | None = None
        self.scroll_slices = False  # the wheel moves slices (a series is shown) instead of zooming
        self.ruler_on = False  # left-drag measures instead of panning
        self._spacing: tuple[float, float] | None = None
        self._ruler: tuple[QPointF, QPointF] | None = None  # in scene (image pixel) coordinates
        self._measuring = False
        self._colour_bar: list[QColor] = []
        self.setAcceptDrops(False)  # drops go to the main window
        self.viewport().setAcceptDrops(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(0, 0, 0))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setMinimumSize(160, 160)

    # --- content ---------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | None) -> None:
        """Shows a uint8 image (None clears the pane). Keeps the view unless the size changes."""
        if image is None:
            self._item.setPixmap(QPixmap())
            self.viewport().update()
            return
        pixmap = to_pixmap(image)
        size_changed = self._item.pixmap().size() != pixmap.size()
        self._item.setPixmap(pixmap)
        if size_changed:
            self.setSceneRect(QRectF(pixmap.rect()))
            self.reset_view()
        self.viewport().update()

    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    def image(self) -> QImage:
        """The image shown, at its own size (a null QImage when the pane is empty)."""
        return self._item.pixmap().toImage()

    def set_hint(self, hint: str) -> None:
        self._hint = hint
        self.viewport().update()

    def hint_text(self) -> str:
        """The hint drawn in the middle while the pane has no image."""
        return self._hint

    def set_corner_text(self, corner: str, text: str) -> None:
        """corner: "top_left", "top_right", "bottom_left" or "bottom_right"."""
        self._corners[corner] = text
        self.viewport().update()

    def corner_text(self, corner: str) -> str:
        """The annotation in that corner ("" when there is none)."""
        return self._corners.get(corner, "")

    def set_pixel_spacing(self, spacing: tuple[float, float] | None) -> None:
        self._spacing = tuple(spacing) if spacing else None

    def set_colour_bar(self, ramp: np.ndarray | None) -> None:
        """The colour map as [n, 3] uint8 RGB, drawn as a bar (None: no bar)."""
        self._colour_bar = [] if ramp is None else [QColor(int(r), int(g), int(b)) for r, g, b in ramp]
        self.viewport().update()

    def colour_bar(self) -> list[QColor]:
        """The colours of the bar, low to high (empty: no bar)."""
        return list(self._colour_bar)

    def measurement_mm(self) -> float | None:
        """The ruler's length in mm (None: no ruler, or a plain image without a pixel spacing)."""
        return None if self._ruler is None else distance_mm(*self._ruler, self._spacing)

    def clear_measurement(self) -> None:
        self._ruler = None
        self.viewport().update()

    # --- view ------------------------------------------------------------------------------------
    def reset_view(self) -> None:
        self._fit = True
        if self.has_image():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)

    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def zoom_by(self, factor: float) -> None:
        target = min(max(self.zoom * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1])
        self._fit = False
        self.scale(target / self.zoom, target / self.zoom)
        self.view_changed.emit()

    def scene_centre(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def follow(self, transform: QTransform, centre: QPointF, fit: bool) -> None:
        """Shows what another pane shows (same zoom, same centre)."""
        self._fit = fit
        self.setTransform(transform)
        self.centerOn(centre)

    # --- events ----------------------------------------------------------------------------------
    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        zoom = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier) or not self.scroll_slices
        if steps and self.has_image() and zoom:
            self.zoom_by(ZOOM_STEP**steps)
        elif steps and self.has_image():
            self.slice_scrolled.emit(-1 if steps > 0 else 1)  # wheel away from the user: previous slice
        event.accept()

    def mousePressEvent(self, event) -> None:
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if event.button() == Qt.MouseButton.LeftButton and self.has_image() and (self.ruler_on or shift):
            point = self.mapToScene(event.position().toPoint())
            self._ruler, self._measuring = (point, point), True
            event.accept()
            return
        if event.button() == Qt.MouseButton.RightButton and self.has_image():
            self._drag_origin = event.position()
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            self.window_drag_started.emit()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._measuring and self._ruler is not None:
            self._ruler = (self._ruler[0], self.mapToScene(event.position().toPoint()))
            self.viewport().update()
            event.accept()
            return
        if self._drag_origin is not None:
            delta = event.position() - self._drag_origin
            self.window_dragged.emit(float(delta.x()), float(delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._fit = False
            self.view_changed.emit()

    def mouseReleaseEvent(self, event) -> None:
        if self._measuring and event.button() == Qt.MouseButton.LeftButton:
            self._measuring = False
            event.accept()
            return
        if self._drag_origin is not None and event.button() == Qt.MouseButton.RightButton:
            self._drag_origin = None
            self.viewport().unsetCursor()
            self.window_drag_finished.emit()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        self.reset_requested.emit()
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.reset_view()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.resetTransform()
        area = self.viewport().rect().adjusted(10, 8, -10, -8)
        font = QFont(self.font())
        if not self.has_image() and self._hint:
            font.setPointSizeF(font.pointSizeF() * 1.1)
            painter.setFont(font)
            painter.setPen(HINT_COLOUR)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._hint)
        elif self.has_image():
            painter.setFont(font)
            painter.setPen(TEXT_COLOUR)
            flags = {
                "top_left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                "top_right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                "bottom_left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                "bottom_right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
            }
            for corner, text in self._corners.items():
                if text:
                    painter.drawText(area, flags[corner], text)
            self._draw_ruler(painter)
            self._draw_colour_bar(painter, area)
        painter.restore()

    def _draw_ruler(self, painter: QPainter) -> None:
        if self._ruler is None:
            return
        start, end = (self.mapFromScene(p) for p in self._ruler)
        painter.setPen(QPen(RULER_COLOUR, 1.5))
        painter.drawLine(QLineF(QPointF(start), QPointF(end)))
        length = self.measurement_mm()
        pixels = QLineF(self._ruler[0], self._ruler[1]).length()
        text = f"{length:.1f} mm" if length is not None else f"{pixels:.0f} px (no pixel spacing)"
        painter.drawText(QPointF(end) + QPointF(6, -6), text)

    def _draw_colour_bar(self, painter: QPainter, area) -> None:
        """A vertical bar at the right edge, high at the top, with its two ends named."""
        if not self._colour_bar:
            return
        height = min(160, max(60, area.height() // 3))
        bar = QRectF(area.right() - 12, area.center().y() - height / 2, 10, height)
        gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        last = len(self._colour_bar) - 1
        for i, colour in enumerate(self._colour_bar):
            gradient.setColorAt(i / last if last else 0.0, colour)
        painter.fillRect(bar, gradient)
        painter.setPen(TEXT_COLOUR)
        painter.drawRect(bar)
        label = QRectF(bar.left() - 64, bar.top() - 2, 58, 16)
        painter.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "high")
        painter.drawText(label.translated(0, height - 12), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "low")


class SyncedViewer(QWidget):
    """Scan pane and overlay pane side by side, kept at the same zoom and position."""

    window_drag_started = Signal()
    window_dragged = Signal(float, float)
    window_drag_finished = Signal()
    slice_scrolled = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scan_pane = ImagePane("")
        self.overlay_pane = ImagePane("The Grad-CAM heatmap appears here once the scan is classified.")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setHandleWidth(3)
        self.splitter.addWidget(self.scan_pane)
        self.splitter.addWidget(self.overlay_pane)
        self.splitter.setChildrenCollapsible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._syncing = False
        for source, target in ((self.scan_pane, self.overlay_pane), (self.overlay_pane, self.scan_pane)):
            source.view_changed.connect(lambda s=source, t=target: self._sync(s, t))
            source.horizontalScrollBar().valueChanged.connect(lambda _v, s=source, t=target: self._sync(s, t))
            source.verticalScrollBar().valueChanged.connect(lambda _v, s=source, t=target: self._sync(s, t))
            source.reset_requested.connect(self.reset_view)
            source.window_drag_started.connect(self.window_drag_started)
            source.window_dragged.connect(self.window_dragged)
            source.window_drag_finished.connect(self.window_drag_finished)
            source.slice_scrolled.connect(self.slice_scrolled)

    def panes(self) -> tuple[ImagePane, ImagePane]:
        return self.scan_pane, self.overlay_pane

    def set_images(self, scan: np.ndarray | None, overlay: np.ndarray | None) -> None:
        self.scan_pane.set_image(scan)
        self.overlay_pane.set_image(overlay)
        self._sync(self.scan_pane, self.overlay_pane)

    def set_scroll_slices(self, on: bool) -> None:
        """A series is shown: the wheel moves slices, Ctrl+wheel zooms."""
        for pane in self.panes():
            pane.scroll_slices = on

    def set_ruler(self, on: bool) -> None:
        for pane in self.panes():
            pane.ruler_on = on

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_pane.setVisible(visible)

    def reset_view(self) -> None:
        for pane in self.panes():
            pane.reset_view()
        self._sync(self.scan_pane, self.overlay_pane)

    def zoom_by(self, factor: float) -> None:
        self.scan_pane.zoom_by(factor)

    def _sync(self, source: ImagePane, target: ImagePane) -> None:
        if self._syncing or not source.has_image():
            return
        self._syncing = True
        try:
            target.follow(source.transform(), source.scene_centre(), source._fit)
        finally:
            self._syncing = False
