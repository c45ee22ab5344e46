"""The results side panel: the class in words, confidence, a bar per class, P(tumour), warnings,
which class's map to show, and the heatmap controls (on/off, opacity, colour map)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.core.model.modality import PREFIX as MODALITY_PREFIX
from app.core.model.modality import describe_reason
from app.core.model.verdict import NOT_ASSESSED_TITLE, flags_at
from app.core.reports.numbers import format_percent_short

FLAG_TEXT = {
    "low_confidence": "Low confidence: the model is unsure between classes. Interpret with care.",
    "out_of_distribution": (
        "Unusual image: it does not look like the axial brain MRI slices the model was trained on."
    ),
}


PREDICTED = -1  # combo data of "Predicted class" (not None: PySide6 6.12.0 mis-counts None from QVariant)
UNCALIBRATED_NOTE = "uncalibrated"
UNCALIBRATED_TIP = ("The model card says this model's probabilities were not calibrated: a confidence of "
                    "90 % does not mean it is right 9 times in 10.")


def flag_text(flag: str) -> str:
    return FLAG_TEXT.get(flag, flag.replace("_", " ").capitalize() + ".")


def percent(value: float | None) -> str:
    """"87.3 %"; "> 99.9 %" rather than a rounded "100.0 %" (``numbers.format_percent_short``)."""
    return format_percent_short(value)


class ResultsPanel(QWidget):
    """Shows one Prediction. ``class_selected`` carries a class index, or None for "predicted"."""

    class_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsPanel")
        self._class_names: tuple[str, ...] = ()
        self._bars: list[QProgressBar] = []

        self.title = QLabel("No scan")
        self.title.setObjectName("resultTitle")
        self.title.setWordWrap(True)
        self.subtitle = QLabel("Drop a scan or a folder on the window.")
        self.subtitle.setObjectName("resultSubtitle")
        self.subtitle.setWordWrap(True)
        self.p_tumour = QLabel("")
        self.p_tumour.setObjectName("pTumour")
        self.warnings = QLabel("")
        self.warnings.setObjectName("warnings")
        self.warnings.setWordWrap(True)
        self.warnings.hide()

        self.bars_box = QGroupBox("Probability per class")
        self.bars_grid = QGridLayout(self.bars_box)
        self.bars_grid.setColumnStretch(1, 1)

        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Show the Grad-CAM map of this class (not only the predicted one)")
        self.class_combo.currentIndexChanged.connect(self._combo_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.p_tumour)
        layout.addWidget(self.warnings)
        layout.addWidget(self.bars_box)
        form = QFormLayout()
        form.addRow("Heatmap of", self.class_combo)
        layout.addLayout(form)
        self.heatmap = HeatmapControls()
        layout.addWidget(self.heatmap)
        layout.addStretch(1)
        self.set_classes((), {})

    # --- classes ---------------------------------------------------------------------------------
    def set_classes(self, class_names: Sequence[str], display_names: dict[str, str]) -> None:
        self._class_names = tuple(class_names)
        for bar in self._bars:
            bar.deleteLater()
        while self.bars_grid.count():
            item = self.bars_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._bars = []
        for row, name in enumerate(self._class_names):
            label = QLabel(display_names.get(name, name))
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(0)
            bar.setFormat("—")
            bar.setTextVisible(True)
            bar.setObjectName("classBar")
            self.bars_grid.addWidget(label, row, 0)
            self.bars_grid.addWidget(bar, row, 1)
            self._bars.append(bar)
        self.bars_box.setVisible(bool(self._class_names))
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("Predicted class", PREDICTED)
        for index, name in enumerate(self._class_names):
            self.class_combo.addItem(display_names.get(name, name), index)
        self.class_combo.blockSignals(False)
        self.class_combo.setEnabled(False)

    def selected_class(self) -> int | None:
        """The class whose map to show, None for the predicted class."""
        data = self.class_combo.currentData()
        return None if data is None or data == PREDICTED else int(data)

    def select_class(self, index: int | None) -> None:
        position = self.class_combo.findData(PREDICTED if index is None else index)
        self.class_combo.setCurrentIndex(max(position, 0))

    def _combo_changed(self, _position: int) -> None:
        self.class_selected.emit(self.selected_class())

    def bar_texts(self) -> list[str]:
        """The text on each class's bar, in class order: "87.3 %", or "—" without a result."""
        return [bar.format() for bar in self._bars]

    def bar_values(self) -> list[int]:
        """How full each class's bar is, in tenths of a percent (0 to 1000), in class order."""
        return [bar.value() for bar in self._bars]

    # --- states ----------------------------------------------------------------------------------
    def show_message(self, title: str, detail: str = "") -> None:
        """A state without a prediction: "Classifying…", "No model loaded", an inline error."""
        self.title.setText(title)
        self.subtitle.setText(detail)
        self.subtitle.setVisible(bool(detail))
        self.p_tumour.setText("")
        self.warnings.hide()
        for bar in self._bars:
            bar.setValue(0)
            bar.setFormat("—")
        self.class_combo.setEnabled(False)

    def show_prediction(self, prediction: Any, display_names: dict[str, str], threshold: float | None,
                        *, calibrated: bool = True) -> None:
        """``threshold``: the user's low-confidence one (None: the card's); ``calibrated``: whether the
        card says the probabilities were calibrated (else the figure says so beside it)."""
        if not getattr(prediction, "assessed", True):
            self._show_not_assessed(prediction)
            return
        name = display_names.get(prediction.predicted_class, prediction.predicted_class)
        self.title.setText(name)
        note = "" if calibrated else f" ({UNCALIBRATED_NOTE} model)"
        self.subtitle.setText(f"Confidence {percent(prediction.confidence)}{note}")
        self.subtitle.setToolTip("" if calibrated else UNCALIBRATED_TIP)
        self.subtitle.setVisible(True)
        p_tumour = getattr(prediction, "p_tumour", None)
        self.p_tumour.setText("" if p_tumour is None else f"P(tumour) {percent(p_tumour)}")
        flags = flags_at(prediction, threshold)
        self.warnings.setText("\n".join(f"⚠ {flag_text(f)}" for f in flags))
        self.warnings.setVisible(bool(flags))
        for index, bar in enumerate(self._bars):
            value = float(prediction.probabilities[index]) if index < len(prediction.probabilities) else 0.0
            bar.setValue(round(value * 1000))
            bar.setFormat(percent(value))
            bar.setProperty("predicted", index == prediction.predicted_index)
            bar.style().unpolish(bar)
            bar.style().polish(bar)
        self.class_combo.setEnabled(True)

    def _show_not_assessed(self, prediction: Any) -> None:
        """Out of distribution: no class, confidence or probabilities, only why (the map stays viewable)."""
        reasons = [describe_reason(r) for r in getattr(prediction, "ood_reasons", ())]
        codes = tuple(getattr(prediction, "ood_reasons", ()))
        detail = ("BrainLens reads brain MRI only" if any(c.startswith(MODALITY_PREFIX) for c in codes)
                  else "This does not look like an axial brain MRI slice")
        self.show_message(NOT_ASSESSED_TITLE, detail + (":\n• " + "\n• ".join(reasons) if reasons else "."))
        self.subtitle.setToolTip("")
        self.class_combo.setEnabled(True)


class HeatmapControls(QGroupBox):
    """Overlay on/off, opacity (0-100 %) and colour map."""

    overlay_toggled = Signal(bool)
    opacity_changed = Signal(float)
    colormap_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Heatmap", parent)
        self.visible_box = QCheckBox("Show heatmap pane")
        self.visible_box.setChecked(True)
        self.visible_box.toggled.connect(self.overlay_toggled)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(40)
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        self.colormap = QComboBox()
        self.colormap.currentTextChanged.connect(self.colormap_changed)
        form = QFormLayout(self)
        form.addRow(self.visible_box)
        form.addRow("Opacity", self.opacity)
        form.addRow("Colour map", self.colormap)

    def set_colormaps(self, names: Sequence[str], current: str) -> None:
        self.colormap.blockSignals(True)
        self.colormap.clear()
        self.colormap.addItems(list(names))
        self.colormap.setCurrentText(current)
        self.colormap.blockSignals(False)

    def set_opacity(self, opacity: float) -> None:
        self.opacity.setValue(round(opacity * 100))
