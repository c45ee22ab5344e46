"""Help ▸ About model: the model card, in words."""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget


def _row(label: str, value: Any) -> str:
    if value in (None, "", {}, (), []):
        return ""
    if isinstance(value, dict):
        text = "<br>".join(f"{html.escape(str(k))}: {html.escape(_short(v))}" for k, v in value.items())
    else:
        text = html.escape(str(value))
    return f"<tr><th>{html.escape(label)}</th><td>{text}</td></tr>"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 120 else text[:117] + "…"
    return str(value)


def card_html(card: Any, *, model_sha256: str = "", device: str = "", path: str = "") -> str:
    """The card as an HTML page (name, classes, input, metrics, provenance, intended use, disclaimer)."""
    classes = ", ".join(card.display_name(c) for c in card.class_names)
    spec = card.input
    rows = "".join(
        [
            _row("Version", card.version),
            _row("Architecture", card.architecture),
            _row("Classes", classes),
            _row("Input", f"{spec.height} × {spec.width} {spec.color.upper()}, values {spec.value_range[0]:g}–"
                          f"{spec.value_range[1]:g}, {spec.resize} resize" + (", brain crop" if card.crop else "")),
            _row("Grad-CAM layer", f"{card.gradcam_layer} ({card.gradcam_shape[0]} × {card.gradcam_shape[1]})"),
            _row("Temperature", f"{card.temperature:.3g}"),
            _row("Low-confidence threshold", f"{card.low_confidence_threshold:.2f}"),
            _row("Metrics", card.metrics),
            _row("Training data", card.training_data),
            _row("Source weights", card.source_weights),
            _row("Export", card.export),
            _row("Quantisation", card.quantization),
            _row("Device", device),
            _row("File", path),
            _row("SHA-256", model_sha256),
        ]
    )
    return (
        "<style>th{text-align:left;padding-right:14px;vertical-align:top;color:#9aa4ae;font-weight:normal}"
        "td{padding-bottom:4px}</style>"
        f"<h2>{html.escape(card.name)}</h2>"
        f"<p style='color:#e0b34a'><b>{html.escape(card.disclaimer)}</b></p>"
        f"<p>{html.escape(card.intended_use)}</p>"
        f"<table>{rows}</table>"
    )


class AboutModelDialog(QDialog):
    def __init__(self, classifier: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About the model")
        self.setObjectName("aboutModelDialog")
        self.resize(640, 560)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(
            card_html(
                classifier.card,
                model_sha256=getattr(classifier, "model_sha256", ""),
                device=getattr(classifier, "device", ""),
                path=str(getattr(classifier, "path", "")),
            )
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
