"""Which model produced a result: the one identity the CLI, GUI, reports and audit log all record."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from app.core.model.card import DISCLAIMER, ModelCard
from app.core.model.verdict import class_display_names
from app.core.version import app_version


@dataclass(frozen=True)
class ModelInfo:
    """A model as loaded: its card's name, version and classes, the file's SHA-256 and the device in use."""

    name: str
    version: str
    sha256: str
    device: str
    class_names: tuple[str, ...]
    display_names: dict[str, str] = field(default_factory=dict)
    disclaimer: str = DISCLAIMER
    intended_use: str = ""
    no_tumour_class: str | None = None
    low_confidence_threshold: float = 0.6
    gradcam_shape: tuple[int, int] | None = None
    temperature: float = 1.0
    file: str = ""  # the model file's name (no folder: folders can name people)
    providers: tuple[str, ...] = ()  # the ONNX Runtime execution providers in use
    user_threshold: float | None = None  # the user's low-confidence threshold; None: the card's decided

    def with_threshold(self, threshold: float | None) -> ModelInfo:
        """This model under the user's low-confidence threshold (None: unchanged), so a report and the
        audit log flag exactly what the table on screen and the CSV flag (``verdict.flags_at``)."""
        if threshold is None:
            return self
        return replace(self, low_confidence_threshold=float(threshold), user_threshold=float(threshold))

    @classmethod
    def from_card(cls, card: ModelCard, *, sha256: str, device: str, file: str = "",
                  providers: tuple[str, ...] = ()) -> ModelInfo:
        return cls(
            name=card.name, version=card.version, sha256=sha256, device=device,
            class_names=tuple(card.class_names), display_names=class_display_names(card),
            disclaimer=card.disclaimer, intended_use=card.intended_use,
            no_tumour_class=card.no_tumour_class,
            low_confidence_threshold=card.low_confidence_threshold,
            gradcam_shape=card.gradcam_shape, temperature=card.temperature,
            file=file, providers=tuple(providers),
        )

    @classmethod
    def from_classifier(cls, classifier: Any) -> ModelInfo:
        """From an ``app.core.model.inference.Classifier`` (its card, file hash and device in use)."""
        return cls.from_card(classifier.card, sha256=classifier.model_sha256, device=classifier.device,
                             file=classifier.path.name, providers=tuple(classifier.providers))

    @property
    def label(self) -> str:
        """"name version", as the audit log and the reports name the model."""
        return f"{self.name} {self.version}".strip()

    def display_name(self, class_name: str) -> str:
        return self.display_names.get(class_name, class_name.replace("_", " ").capitalize())

    def as_json(self) -> dict[str, Any]:
        """The model block of the CLI's JSON output."""
        return {
            "name": self.name, "version": self.version, "file": self.file, "sha256": self.sha256,
            "classes": list(self.class_names), "temperature": self.temperature, "device": self.device,
            "low_confidence_threshold": self.low_confidence_threshold,
            "providers": list(self.providers), "brainlens_version": app_version(),
        }
