"""User preferences (device, colour map, default opacity, low-confidence threshold, recent files),
persisted with QSettings, and the Settings dialog that edits them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.model.gradcam import COLORMAPS, DEFAULT_COLORMAP

DEVICES = {"auto": "Automatic (GPU when available)", "cpu": "CPU", "gpu": "GPU"}
MAX_RECENT = 8


@dataclass
class UiSettings:
    device: str = "auto"
    colormap: str = DEFAULT_COLORMAP
    opacity: float = 0.4
    low_confidence_threshold: float | None = None  # None: the model card's own threshold
    show_metadata: bool = True
    hide_identifiers: bool = False
    recent_files: list[str] = field(default_factory=list)

    def with_recent(self, path: str | Path) -> UiSettings:
        """A copy with ``path`` first in the recent list (no duplicates, at most MAX_RECENT)."""
        text = str(path)
        recent = [text] + [p for p in self.recent_files if p != text]
        return replace(self, recent_files=recent[:MAX_RECENT])


def _bool(value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def load_settings(store: QSettings) -> UiSettings:
    """Reads the settings, falling back to defaults for anything missing or invalid."""
    defaults = UiSettings()
    device = str(store.value("device", defaults.device))
    colormap = str(store.value("colormap", defaults.colormap))
    try:
        opacity = min(max(float(store.value("opacity", defaults.opacity)), 0.0), 1.0)
    except (TypeError, ValueError):
        opacity = defaults.opacity
    raw_threshold = store.value("low_confidence_threshold", "")
    try:
        threshold = float(raw_threshold) if raw_threshold not in ("", None) else None
    except (TypeError, ValueError):
        threshold = None
    recent = store.value("recent_files", [])
    if isinstance(recent, str):
        recent = [recent] if recent else []
    return UiSettings(
        device=device if device in DEVICES else defaults.device,
        colormap=colormap if colormap in COLORMAPS else defaults.colormap,
        opacity=opacity,
        low_confidence_threshold=threshold if threshold is None or 0.0 < threshold < 1.0 else None,
        show_metadata=_bool(store.value("show_metadata"), defaults.show_metadata),
        hide_identifiers=_bool(store.value("hide_identifiers"), defaults.hide_identifiers),
        recent_files=[str(p) for p in recent][:MAX_RECENT],
    )


def save_settings(store: QSettings, settings: UiSettings) -> None:
    store.setValue("device", settings.device)
    store.setValue("colormap", settings.colormap)
    store.setValue("opacity", float(settings.opacity))
    threshold = settings.low_confidence_threshold
    store.setValue("low_confidence_threshold", "" if threshold is None else float(threshold))
    store.setValue("show_metadata", bool(settings.show_metadata))
    store.setValue("hide_identifiers", bool(settings.hide_identifiers))
    store.setValue("recent_files", list(settings.recent_files))
    store.sync()


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings()`` returns it after Accept."""

    def __init__(self, settings: UiSettings, card_threshold: float | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings
        self.device = QComboBox()
        for key, words in DEVICES.items():
            self.device.addItem(words, key)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.setCurrentText(settings.colormap)
        self.opacity = QSpinBox()
        self.opacity.setRange(0, 100)
        self.opacity.setSuffix(" %")
        self.opacity.setValue(round(settings.opacity * 100))
        self.use_card_threshold = QCheckBox("Use the model's own threshold")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.05, 0.99)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        fallback = card_threshold if card_threshold is not None else 0.6
        self.threshold.setValue(settings.low_confidence_threshold or fallback)
        self.use_card_threshold.setChecked(settings.low_confidence_threshold is None)
        self.threshold.setEnabled(settings.low_confidence_threshold is not None)
        self.use_card_threshold.toggled.connect(lambda on: self.threshold.setEnabled(not on))

        form = QFormLayout()
        form.addRow("Device", self.device)
        form.addRow("Colour map", self.colormap)
        form.addRow("Default heatmap opacity", self.opacity)
        form.addRow("Low-confidence warning", self.use_card_threshold)
        form.addRow("Warn below confidence", self.threshold)
        note = QLabel("A change of device reloads the model.")
        note.setObjectName("hint")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def result_settings(self) -> UiSettings:
        return replace(
            self._settings,
            device=str(self.device.currentData()),
            colormap=self.colormap.currentText(),
            opacity=self.opacity.value() / 100.0,
            low_confidence_threshold=None if self.use_card_threshold.isChecked() else float(self.threshold.value()),
        )
