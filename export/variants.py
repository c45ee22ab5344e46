"""Smaller/faster variants of an exported model: int8 (static) and float16.

Only the convolutions are quantised (they hold ~all the compute); the head, its hand-written
backward pass and the Grad-CAM arithmetic stay float32, so every output stays float32.
Each variant's card records its agreement with the float32 model on MRI slices that were not
used for calibration: top-1 agreement, max |probability difference|, Grad-CAM correlation.
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from app.core.model.card import ModelCard
from export import card as card_info
from export import convert, parity, reference_images

EVALUATION_SLICES = tuple(range(31, 150, 3))  # interleaved with, never equal to, the calibration slices
INT8_FORMAT = "QOperator"  # measured a little faster than QDQ on this CPU (AVX512-VNNI)


def variant_path(float_path: Path, suffix: str) -> Path:
    return float_path.with_name(f"{float_path.stem}-{suffix}{float_path.suffix}")


def agreement(float_path: Path, variant: bytes | Path, images: np.ndarray) -> dict:
    """How closely ``variant`` follows the float32 model on ``images``."""
    ref = _run_chunked(float_path, images)
    got = _run_chunked(variant, images)
    pearsons = []
    for a, b in zip(ref["gradcam"].reshape(-1, ref["gradcam"][0, 0].size),
                    got["gradcam"].reshape(-1, ref["gradcam"][0, 0].size)):
        if a.std() > 0 and b.std() > 0:
            pearsons.append(float(np.corrcoef(a, b)[0, 1]))
    return {
        "evaluation_images": int(images.shape[0]),
        "top1_agreement": float(np.mean(ref["probabilities"].argmax(1) == got["probabilities"].argmax(1))),
        "prob_max_abs_diff": float(np.max(np.abs(ref["probabilities"] - got["probabilities"]))),
        "prob_mean_abs_diff": float(np.mean(np.abs(ref["probabilities"] - got["probabilities"]))),
        "gradcam_median_pearson": float(np.median(pearsons)) if pearsons else None,
        "gradcam_min_pearson": float(np.min(pearsons)) if pearsons else None,
    }


def _run_chunked(model, images: np.ndarray, chunk: int = 8) -> dict[str, np.ndarray]:
    source = model if isinstance(model, bytes) else str(model)
    parts = [parity.run_onnx(source, images[i : i + chunk]) for i in range(0, len(images), chunk)]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def evaluation_images(card: ModelCard) -> np.ndarray:
    """The MNI axial slices a variant is compared with its float model on, as the card's input."""
    spec = card.input
    return reference_images.axial_batch(EVALUATION_SLICES, spec.height, spec.width, spec.value_range)


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over batches of model inputs."""

    def __init__(self, images: np.ndarray, batch: int = 4) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            images[i : i + batch] for i in range(0, len(images), batch)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {"image": batch.astype(np.float32)}


def quantize_int8(float_path: Path, out: Path, calibration: np.ndarray) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(float_path),
        str(out),
        _Calibration(calibration),
        quant_format=QuantFormat.QDQ if INT8_FORMAT == "QDQ" else QuantFormat.QOperator,
        op_types_to_quantize=["Conv"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        # MinMax calibration keeps only per-batch ReduceMin/ReduceMax values, so memory stays small.
        # (Do not set CalibMaxIntermediateOutputs: onnxruntime 1.31 discards, not merges, them.)
    )
    return out


def write_int8(
    float_path: Path, card: ModelCard, *, calibration: np.ndarray | None = None,
    calibration_source: str | None = None, out: Path | None = None, log=print,
) -> Path:
    """``<model>-int8.onnx`` (+ card) from ``float_path``; calibration defaults to MNI slices."""
    float_path = Path(float_path)
    out = Path(out) if out is not None else variant_path(float_path, "int8")
    if calibration is None:
        spec = card.input
        calibration = reference_images.axial_batch(
            reference_images.CALIBRATION_SLICES, spec.height, spec.width, spec.value_range
        )
        calibration_source = (
            "MNI ICBM152 T1 template axial slices "
            f"z={reference_images.CALIBRATION_SLICES[0]}..{reference_images.CALIBRATION_SLICES[-1]} step 3"
        )
    log(f"quantising to int8 ({INT8_FORMAT}, per-channel, {len(calibration)} calibration images) ...")
    with tempfile.TemporaryDirectory() as tmp:
        quantized = quantize_int8(float_path, Path(tmp) / "int8.onnx", calibration)
        figures = agreement(float_path, quantized, evaluation_images(card))
        proto = onnx.load(str(quantized))
    info = {
        "type": f"int8 static ({INT8_FORMAT}, onnxruntime.quantization; Conv only, per-channel "
        "weights int8, activations uint8, MinMax calibration)",
        "calibration": calibration_source or f"{len(calibration)} caller-supplied images",
        "evaluation": f"MNI axial slices z={EVALUATION_SLICES[0]}..{EVALUATION_SLICES[-1]} step 3 "
        "(not used for calibration)",
        "float_model_sha256": card_info.sha256_file(float_path),
        **figures,
    }
    return _save_variant(proto, card, out, "int8", info, log)


def write_fp16(float_path: Path, card: ModelCard, *, out: Path | None = None, log=print) -> Path:
    """``<model>-fp16.onnx``: float16 weights and arithmetic, float32 input and outputs."""
    from onnxconverter_common import float16

    float_path = Path(float_path)
    out = Path(out) if out is not None else variant_path(float_path, "fp16")
    log("converting to float16 ...")
    with warnings.catch_warnings():  # it warns once per weight it rounds to float16's range
        warnings.simplefilter("ignore", UserWarning)
        proto = onnx.load(str(float_path))
        _isolate_outputs(proto)
        proto = float16.convert_float_to_float16(proto, keep_io_types=True)
    _fix_float_casts(proto)
    figures = agreement(float_path, proto.SerializeToString(), evaluation_images(card))
    info = {
        "type": "float16 (onnxconverter-common convert_float_to_float16, float32 input/outputs)",
        "evaluation": f"MNI axial slices z={EVALUATION_SLICES[0]}..{EVALUATION_SLICES[-1]} step 3",
        "float_model_sha256": card_info.sha256_file(float_path),
        **figures,
    }
    return _save_variant(proto, card, out, "fp16", info, log)


def _isolate_outputs(proto: onnx.ModelProto) -> None:
    """Graph outputs that other nodes also read (``logits`` feeds the softmax) get their own
    Identity, so the float16 converter's output casts do not retype what those nodes read."""
    outputs = {o.name for o in proto.graph.output}
    read = {name for node in proto.graph.node for name in node.input}
    for name in sorted(outputs & read):
        internal = f"{name}__internal"
        for node in proto.graph.node:
            node.output[:] = [internal if o == name else o for o in node.output]
            node.input[:] = [internal if i == name else i for i in node.input]
        proto.graph.node.append(onnx.helper.make_node("Identity", [internal], [name], name=f"{name}__output"))


def _fix_float_casts(proto: onnx.ModelProto) -> None:
    """convert_float_to_float16 retypes a Cast's float output to float16 in value_info but leaves
    the Cast's ``to`` at float (e.g. the bool -> float ReLU masks): make the node agree."""
    types = {vi.name: vi.type.tensor_type.elem_type for vi in proto.graph.value_info}
    for node in proto.graph.node:
        if node.op_type != "Cast" or types.get(node.output[0]) != onnx.TensorProto.FLOAT16:
            continue
        for attr in node.attribute:
            if attr.name == "to" and attr.i == onnx.TensorProto.FLOAT:
                attr.i = onnx.TensorProto.FLOAT16


def _save_variant(proto, card: ModelCard, out: Path, tag: str, info: dict, log) -> Path:
    variant_card = dataclasses.replace(card, name=f"{card.name} [{tag}]", version=f"{card.version}-{tag}",
                                       quantization=info)
    convert.save(proto, variant_card, out)
    log(
        f"wrote {out}: top-1 agreement with float32 {info['top1_agreement']:.1%}, max |prob diff| "
        f"{info['prob_max_abs_diff']:.2e}, Grad-CAM median Pearson {info['gradcam_median_pearson']}"
    )
    return out
