"""The export pipeline: Keras model -> ONNX with Grad-CAM outputs -> parity check -> card -> file.

Nothing is written unless the parity check passes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.model.card import InputSpec, ModelCard
from export import card as card_info
from export import convert, parity, reference_images

OOD_MARGIN = 1.25  # chosen by measurement, see ood_reference


@dataclass(frozen=True)
class ExportResult:
    path: Path
    card: ModelCard
    parity: parity.ParityReport


def input_size(model) -> tuple[int, int]:
    shape = model.inputs[0].shape
    if len(shape) != 4 or shape[3] != 3 or not shape[1] or not shape[2]:
        raise ValueError(f"the model's input must be [N, H, W, 3] with fixed H and W, got {shape}")
    return int(shape[1]), int(shape[2])


def ood_reference(embeddings: np.ndarray, source: str) -> dict:
    """Embedding statistics for the app's out-of-distribution guard (app/core/model/ood.py).

    metric "standardised_euclidean": distance(e) = sqrt(mean(((e - mean) / std)^2)), where std is
    the reference images' per-feature spread floored at its median (so near-constant features do
    not explode the distance); out of distribution when distance > threshold = OOD_MARGIN x the
    largest reference distance.

    Measured on the default model (threshold 1.29): held-out MNI axial, sagittal and coronal
    slices 0.6-1.14 (0 of 23 flagged); noise, checkerboard, a disc, black, CT, a non-brain MR,
    colour and palette images 1.33-3.7 (11 of 14 non-brain images flagged); white, a gradient and
    a liver slice 1.1-1.24 (not flagged: the app's blank/head-contour signals must catch those);
    heavily degraded brain slices (blur sigma 3, 48 px, gamma 0.5, 25 degree tilt, inverted and
    padded) 15 of 78 flagged. A crude guard, not a guarantee.
    """
    mean = embeddings.mean(axis=0)
    spread = embeddings.std(axis=0)
    floor = float(np.median(spread[spread > 0])) if np.any(spread > 0) else 1.0
    std = np.maximum(spread, floor)
    distances = standardised_distance(embeddings, mean, std)
    return {
        "metric": "standardised_euclidean",
        "mean": [round(float(v), 7) for v in mean],
        "std": [round(float(v), 7) for v in std],
        "threshold": round(float(distances.max() * OOD_MARGIN), 6),
        "reference_distance_quantiles": {
            str(q): round(float(np.quantile(distances, q)), 6) for q in (0.5, 0.9, 1.0)
        },
        "images": int(embeddings.shape[0]),
        "source": source,
        "rule": "out of distribution when sqrt(mean(((embedding - mean) / std)^2)) > threshold "
        f"({OOD_MARGIN} x the largest distance among the reference images)",
    }


def standardised_distance(embeddings: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    z = (embeddings - mean) / std
    return np.sqrt(np.mean(z * z, axis=1))


def export_keras(
    model,
    out: str | Path,
    card: ModelCard,
    *,
    gradcam_layer: str | None = None,
    parity_images: np.ndarray | None = None,
    log=print,
) -> ExportResult:
    """Exports ``model`` to ``out`` with ``card`` (whose export/gradcam/ood fields are filled in).

    parity_images: float32 model inputs; default = MNI axial slices through the app's
    preprocessing. Raises parity.ParityError (and writes nothing) when parity fails.
    """
    from training.models import gradcam_layer_name

    layer = gradcam_layer or gradcam_layer_name(model)
    height, width = input_size(model)
    value_range = card.input.value_range
    parity_source = "caller-supplied images"
    if parity_images is None:
        parity_source = f"MNI ICBM152 T1 template axial slices z={list(reference_images.PARITY_SLICES)}"
        parity_images = reference_images.axial_batch(
            reference_images.PARITY_SLICES, height, width, value_range
        )
    log(f"converting to ONNX (Grad-CAM layer {layer}) ...")
    proto = convert.to_onnx(model, layer)
    model_bytes = proto.SerializeToString()
    log("checking parity with Keras / GradientTape ...")
    report = parity.check_parity(model_bytes, model, layer, parity_images)
    log(report.describe())

    ood = card.ood_reference
    if not ood:
        log("computing the out-of-distribution reference ...")
        displays = reference_images.ood_reference_displays()
        embeddings = np.concatenate([
            parity.run_onnx(model_bytes, reference_images.model_inputs(
                displays[i : i + 16], height, width, value_range))["embedding"]
            for i in range(0, len(displays), 16)
        ])
        ood = ood_reference(embeddings, (
            "MNI ICBM152 2009a T1 template, axial slices z="
            f"{reference_images.OOD_SLICES[0]}..{reference_images.OOD_SLICES[-1]} step 8, each as-is and "
            "in 11 acquisition-like variants (T2-like inversion, gamma, blur, 64 px, rotation, padding, "
            "noise, a crude skull and scalp)"
        ))
    gradcam_shape = tuple(int(v) for v in model.get_layer(layer).output.shape[1:3])
    final = dataclasses.replace(
        card,
        input=dataclasses.replace(card.input, height=height, width=width),
        gradcam_layer=layer,
        gradcam_shape=gradcam_shape,
        ood_reference=ood,
        export={
            **card.export,
            "date": card_info.utc_now(),
            "tool_versions": card_info.tool_versions(),
            "opset": convert.OPSET,
            "parity": report.as_dict(),
            "parity_images": parity_source,
        },
    )
    final.validate()
    path = convert.save(proto, final, out)
    log(f"wrote {path} and {convert.sidecar_path(path).name}")
    return ExportResult(path, final, report)


def default_input_spec(height: int, width: int) -> InputSpec:
    return InputSpec(height=height, width=width, channels=3, color="rgb", value_range=(0.0, 1.0),
                     resize="bicubic")
