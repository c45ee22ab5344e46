"""``python -m export check MODEL.onnx``: print the card and re-check what needs no Keras model.

Checks, on MNI axial slices through the app's preprocessing: the graph has the contract's
input/outputs, probabilities = softmax(logits) and sum to 1, the Grad-CAM maps have the card's
shape and are non-negative, the embedding has the OOD reference's size; and prints the parity
figures recorded at export time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.model.card import INPUT_NAME, OUTPUT_NAMES, ModelCard
from export import convert, parity, reference_images


@dataclass
class CheckReport:
    card: ModelCard
    problems: list[str] = field(default_factory=list)
    predictions: list[tuple[int, str, float]] = field(default_factory=list)  # (z, class, p)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_model(path: str | Path) -> CheckReport:
    import onnxruntime as ort

    card = convert.read_card(path)
    report = CheckReport(card)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if inputs != [INPUT_NAME]:
        report.problems.append(f"inputs are {inputs}, expected [{INPUT_NAME!r}]")
    if sorted(outputs) != sorted(OUTPUT_NAMES):
        report.problems.append(f"outputs are {outputs}, expected {list(OUTPUT_NAMES)}")
        return report
    z_indices = reference_images.PARITY_SLICES
    x = reference_images.axial_batch(z_indices, card.input.height, card.input.width,
                                     card.input.value_range)
    out = parity.run_onnx(str(path), x)
    probs, logits, cams = out["probabilities"], out["logits"], out["gradcam"]
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    softmax = shifted / shifted.sum(1, keepdims=True)
    if np.max(np.abs(softmax - probs)) > 1e-4:
        report.problems.append("probabilities are not softmax(logits)")
    if np.max(np.abs(probs.sum(1) - 1)) > 1e-4:
        report.problems.append("probabilities do not sum to 1")
    expected = (x.shape[0], len(card.class_names), *card.gradcam_shape)
    if cams.shape != expected:
        report.problems.append(f"gradcam shape {cams.shape}, card says {expected}")
    if cams.min() < 0:
        report.problems.append("gradcam has negative values")
    mean = card.ood_reference.get("mean") or (card.ood_reference.get("class_means") or [None])[0]
    if mean is not None and len(mean) != out["embedding"].shape[1]:
        report.problems.append("embedding size differs from the card's ood_reference")
    for z, p in zip(z_indices, probs):
        report.predictions.append((z, card.class_names[int(p.argmax())], float(p.max())))
    return report


def describe(report: CheckReport) -> str:
    card = report.card
    lines = [
        f"{card.name} (version {card.version})",
        f"classes: {', '.join(f'{n} ({card.display_name(n)})' for n in card.class_names)}",
        f"input: {card.input.height}x{card.input.width} {card.input.color}, values "
        f"{card.input.value_range}, resize {card.input.resize}, crop {card.crop}",
        f"Grad-CAM layer: {card.gradcam_layer} {tuple(card.gradcam_shape)}; temperature "
        f"{card.temperature}; low-confidence threshold {card.low_confidence_threshold}",
        f"source weights: {json.dumps(card.source_weights)}",
        f"exported: {card.export.get('date')} with {json.dumps(card.export.get('tool_versions', {}))}",
        f"parity at export: {json.dumps(card.export.get('parity', {}))}",
    ]
    if "parity_with_original" in card.export:
        lines.append(f"parity with the original: {json.dumps(card.export['parity_with_original'])}")
    ood = card.ood_reference
    if ood:
        lines.append(f"OOD reference: {ood.get('metric')}, threshold {ood.get('threshold')}, "
                     f"{ood.get('images')} reference images ({ood.get('source', '')})")
    if card.quantization:
        lines.append(f"quantization: {json.dumps(card.quantization)}")
    lines.append("MNI axial slices now: " + ", ".join(
        f"z={z}: {name} {p:.2f}" for z, name, p in report.predictions))
    lines.append(f"disclaimer: {card.disclaimer}")
    lines.append("checks: OK" if report.ok else "checks FAILED: " + "; ".join(report.problems))
    return "\n".join(lines)


def main(path: Path) -> int:
    report = check_model(path)
    print(describe(report))
    return 0 if report.ok else 1
