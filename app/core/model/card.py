"""The BrainLens model card: what an exported ONNX model promises the app.

export/ writes it (as JSON in the ONNX ``metadata_props`` under ``CARD_METADATA_KEY``,
and as a sidecar ``<model>.card.json``); app/ reads it and needs nothing else to run
the model. The ONNX graph contract that goes with it:

inputs
    ``image``: float32 [N, H, W, 3], RGB, values in ``input.value_range`` (dynamic N).
outputs
    ``probabilities``: float32 [N, C] softmax of ``logits`` (temperature 1).
    ``logits``: float32 [N, C].
    ``gradcam``: float32 [N, C, h, w], the raw Grad-CAM map of *every* class
    (ReLU(sum_k alpha_k A_k), before normalisation and upsampling), so any class
    can be explained without a second run.
    ``embedding``: float32 [N, K], the Grad-CAM layer's feature map averaged over space,
    used for the out-of-distribution guard.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

CARD_METADATA_KEY = "brainlens.model_card"
CARD_FORMAT = "brainlens-model"
CARD_FORMAT_VERSION = 1
DISCLAIMER = (
    "Research use only. Not a medical device and not for diagnostic use: "
    "BrainLens must not be used to diagnose, treat or triage patients."
)
OUTPUT_NAMES = ("probabilities", "logits", "gradcam", "embedding")
INPUT_NAME = "image"


class ModelCardError(ValueError):
    """The model file has no usable BrainLens card."""


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    channels: int = 3
    color: str = "rgb"  # "rgb" or "grey" (grey is replicated to ``channels``)
    layout: str = "NHWC"
    value_range: tuple[float, float] = (0.0, 1.0)  # what 0 and 255 of an 8-bit image map to
    resize: str = "bilinear"  # interpolation used to reach (height, width)


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    class_names: tuple[str, ...]
    input: InputSpec
    gradcam_layer: str
    gradcam_shape: tuple[int, int]
    display_names: dict[str, str] = field(default_factory=dict)
    no_tumour_class: str | None = None  # P(tumour) = 1 - P(this class); None when not applicable
    crop: bool = False  # apply the brain-crop step before resizing
    crop_margin: int = 0
    temperature: float = 1.0
    low_confidence_threshold: float = 0.6
    architecture: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: str = ""
    source_weights: dict[str, Any] = field(default_factory=dict)  # name, url, sha256, licence
    export: dict[str, Any] = field(default_factory=dict)  # date, tool versions, parity figures
    quantization: dict[str, Any] = field(default_factory=dict)  # agreement with float32
    ood_reference: dict[str, Any] = field(default_factory=dict)  # embedding statistics
    # The slice planes the training images were cut in; a volume is classified in these planes
    # (older cards have no field: their models were trained on axial slices).
    training_planes: tuple[str, ...] = ("axial",)
    intended_use: str = (
        "Research and education: exploring how a CNN classifies axial brain MRI slices."
    )
    disclaimer: str = DISCLAIMER
    format: str = CARD_FORMAT
    format_version: int = CARD_FORMAT_VERSION

    def display_name(self, class_name: str) -> str:
        return self.display_names.get(class_name, class_name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        if data.get("format") != CARD_FORMAT:
            raise ModelCardError("this is not a BrainLens model card (wrong 'format' field)")
        if int(data.get("format_version", -1)) > CARD_FORMAT_VERSION:
            raise ModelCardError(
                f"model card format {data.get('format_version')} is newer than this "
                f"BrainLens understands ({CARD_FORMAT_VERSION}); update BrainLens"
            )
        try:
            values = dict(data)
            spec = dict(values.pop("input"))
            spec["value_range"] = tuple(spec.get("value_range", (0.0, 1.0)))
            values["input"] = InputSpec(**spec)
            values["class_names"] = tuple(values["class_names"])
            values["gradcam_shape"] = tuple(values["gradcam_shape"])
            if "training_planes" in values:
                values["training_planes"] = tuple(values["training_planes"])
            card = cls(**values)
        except (KeyError, TypeError) as exc:
            raise ModelCardError(f"the model card is incomplete or malformed: {exc}") from exc
        card.validate()
        return card

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelCardError(f"the model card is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelCardError("the model card is not a JSON object")
        return cls.from_dict(data)

    def validate(self) -> None:
        if len(self.class_names) < 2:
            raise ModelCardError("a model card needs at least two class names")
        if len(set(self.class_names)) != len(self.class_names):
            raise ModelCardError("the model card repeats a class name")
        if self.no_tumour_class is not None and self.no_tumour_class not in self.class_names:
            raise ModelCardError(
                f"no_tumour_class {self.no_tumour_class!r} is not one of {list(self.class_names)}"
            )
        if self.input.channels not in (1, 3) or self.input.layout != "NHWC":
            raise ModelCardError("only NHWC inputs with 1 or 3 channels are supported")
        if self.input.height <= 0 or self.input.width <= 0:
            raise ModelCardError("the model card's input size must be positive")
        unknown = [p for p in self.training_planes if p not in ("axial", "coronal", "sagittal")]
        if unknown or not self.training_planes:
            raise ModelCardError(f"the model card's training_planes {list(self.training_planes)} must be "
                                 "one or more of axial, coronal, sagittal")
        if not self.temperature > 0:
            raise ModelCardError("the model card's temperature must be positive")
