"""The main window's volume part: a NIfTI file or a non-axial DICOM series opens in the three-plane
view (``VolumePanel``, a page beside the slice view); its axial slices are classified like a series
and every result also feeds the panel's heatmap volume and P(tumour) curve."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton

from app.core.scans.volume import NEUROLOGICAL, RADIOLOGICAL
from app.ui.volume_view import VolumePanel

CONVENTION_KEY = "volume_convention"


class VolumeMixin:
    """Adds the three-plane page, a "Three planes" switch on the slice view and the convention setting."""

    def _build_volume_view(self) -> None:
        self.volume_panel = VolumePanel()
        self.page.addWidget(self.volume_panel)
        self.volume_panel.back_requested.connect(self.page.show_viewer)
        self.volume_panel.axial_changed.connect(self._volume_axial_changed)
        self.view.slice_shown.connect(self._viewer_slice_shown)
        self.planes_button = QPushButton("Three planes")
        self.planes_button.setObjectName("planesButton")
        self.planes_button.setToolTip("Axial, coronal and sagittal views of the volume, linked by a crosshair")
        self.planes_button.clicked.connect(self.show_volume_view)
        self.planes_button.hide()
        self.page.tools.insertWidget(3, self.planes_button)
        self.convention_action = QAction("Neurological convention (patient's left on the left)", self)
        self.convention_action.setCheckable(True)
        self.convention_action.setChecked(str(self.store.value(CONVENTION_KEY, RADIOLOGICAL)) == NEUROLOGICAL)
        self.convention_action.toggled.connect(self._convention_toggled)
        for action in self.menuBar().actions():
            if action.text() == "&View":
                action.menu().addSeparator()
                action.menu().addAction(self.convention_action)
        self.results.heatmap.colormap.currentTextChanged.connect(self._volume_style_changed)
        self.results.heatmap.opacity.valueChanged.connect(self._volume_style_changed)

    def convention(self) -> str:
        return NEUROLOGICAL if self.convention_action.isChecked() else RADIOLOGICAL

    def show_volume_view(self) -> None:
        if self.volume_panel.volume is not None:
            self.page.setCurrentWidget(self.volume_panel)

    def _volume_opened(self, scans: list[Any]) -> None:
        volume = getattr(scans[0], "volume", None) if scans else None
        self.planes_button.setVisible(volume is not None)
        if volume is None:
            self.volume_panel.volume = None
            return
        self.volume_panel.set_volume(volume, self.convention())
        self._viewer_slice_shown(self.view.index)  # the three planes open on the slice the viewer shows
        self.volume_panel.set_style(self.view.colormap(), self.view.opacity())
        self.show_volume_view()

    def _volume_prediction(self, index: int, prediction: Any) -> None:
        if self.volume_panel.volume is not None and 0 <= index < len(self.view.scans):
            self.volume_panel.add_prediction(self.view.scans[index], prediction)

    def _volume_axial_changed(self, axial_index: int) -> None:
        """The slice view (and the result panel) follow the three-plane view's axial slice."""
        for i, scan in enumerate(self.view.scans):
            if scan.slice_index == axial_index and getattr(scan, "volume", None) is self.volume_panel.volume:
                if i != self.view.index:
                    self.view.show_slice(i)
                return

    def _viewer_slice_shown(self, index: int) -> None:
        scan = self.view.scans[index] if 0 <= index < len(self.view.scans) else None
        panel = self.volume_panel
        if scan is not None and panel.volume is not None and getattr(scan, "volume", None) is panel.volume:
            if panel.cursor[2] != scan.slice_index:
                panel.set_slice("axial", scan.slice_index)

    def _volume_style_changed(self, *_: Any) -> None:
        if self.volume_panel.volume is not None:
            self.volume_panel.set_style(self.view.colormap(), self.view.opacity())

    def _convention_toggled(self, _checked: bool) -> None:
        self.store.setValue(CONVENTION_KEY, self.convention())
        panel = self.volume_panel
        if panel.volume is not None:
            panel.convention = self.convention()
            panel.render()
