"""A tiny BrainLens-contract ONNX model whose every output can be computed in NumPy.

    image [N,16,16,3] -> NCHW -> Conv 3x3 stride 2 (K=4) -> ReLU = A [N,4,8,8]
    embedding = mean_hw(A) [N,4];  logits = embedding @ W + b;  probabilities = softmax(logits)
    gradcam[c] = ReLU(sum_k alpha[c,k] A_k), alpha[c,k] = W[k,c] / 64 (d logit_c / d A_k for GAP+Dense)

Built with onnx.helper, so tests need neither TensorFlow nor the 65 MB default model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.model.card import CARD_METADATA_KEY, InputSpec, ModelCard

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")
SIZE, K, CAM = 16, 4, 8
RNG = np.random.default_rng(7)
CONV_W = RNG.normal(0.0, 0.5, (K, 3, 3, 3)).astype(np.float32)
CONV_B = np.array([0.1, -0.05, 0.0, 0.2], dtype=np.float32)
DENSE_W = RNG.normal(0.0, 2.0, (K, len(CLASSES))).astype(np.float32)
DENSE_B = np.array([0.1, -0.2, 0.3, 0.0], dtype=np.float32)


def tiny_card(**overrides: Any) -> ModelCard:
    card = ModelCard(
        name="tiny-test",
        version="0.0.1",
        class_names=CLASSES,
        input=InputSpec(height=SIZE, width=SIZE),
        gradcam_layer="conv",
        gradcam_shape=(CAM, CAM),
        no_tumour_class="notumor",
        architecture="1-conv test net",
    )
    return dataclasses.replace(card, **overrides)


def build_tiny_model(
    path: Path,
    *,
    card: ModelCard | None = None,
    card_json: str | None = None,
    with_card: bool = True,
    input_name: str = "image",
    input_shape: tuple = ("N", SIZE, SIZE, 3),
    drop_outputs: tuple[str, ...] = (),
) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    alpha = (DENSE_W.T / float(CAM * CAM)).astype(np.float32)  # [C, K]
    inits = [
        numpy_helper.from_array(CONV_W, "conv_w"),
        numpy_helper.from_array(CONV_B, "conv_b"),
        numpy_helper.from_array(DENSE_W, "dense_w"),
        numpy_helper.from_array(DENSE_B, "dense_b"),
        numpy_helper.from_array(alpha, "alpha"),
        numpy_helper.from_array(np.array([0, K, CAM * CAM], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([0, len(CLASSES), CAM, CAM], np.int64), "cam_shape"),
    ]
    nodes = [
        helper.make_node("Transpose", [input_name], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv_w", "conv_b"], ["conv"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["act"]),
        helper.make_node("ReduceMean", ["act"], ["embedding"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["embedding", "dense_w"], ["mm"]),
        helper.make_node("Add", ["mm", "dense_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("Reshape", ["act", "flat_shape"], ["act_flat"]),
        helper.make_node("MatMul", ["alpha", "act_flat"], ["cam_flat"]),
        helper.make_node("Relu", ["cam_flat"], ["cam_relu"]),
        helper.make_node("Reshape", ["cam_relu", "cam_shape"], ["gradcam"]),
    ]
    f = TensorProto.FLOAT
    outputs = {
        "probabilities": helper.make_tensor_value_info("probabilities", f, ["N", len(CLASSES)]),
        "logits": helper.make_tensor_value_info("logits", f, ["N", len(CLASSES)]),
        "gradcam": helper.make_tensor_value_info("gradcam", f, ["N", len(CLASSES), CAM, CAM]),
        "embedding": helper.make_tensor_value_info("embedding", f, ["N", K]),
    }
    graph = helper.make_graph(
        nodes,
        "brainlens_tiny",
        [helper.make_tensor_value_info(input_name, f, list(input_shape))],
        [v for name, v in outputs.items() if name not in drop_outputs],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_card:
        text = card_json if card_json is not None else (card or tiny_card()).to_json()
        helper.set_model_props(model, {CARD_METADATA_KEY: text})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def reference_outputs(batch: np.ndarray) -> dict[str, np.ndarray]:
    """What the tiny model computes, in NumPy, for a float32 [N,16,16,3] batch."""
    x = np.transpose(batch, (0, 3, 1, 2)).astype(np.float64)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n = x.shape[0]
    act = np.zeros((n, K, CAM, CAM))
    for i in range(CAM):
        for j in range(CAM):
            patch = padded[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]  # [N,3,3,3]
            act[:, :, i, j] = np.einsum("nchw,kchw->nk", patch, CONV_W) + CONV_B
    act = np.maximum(act, 0)
    embedding = act.mean(axis=(2, 3))
    logits = embedding @ DENSE_W + DENSE_B
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    alpha = DENSE_W.T / float(CAM * CAM)
    cams = np.maximum(np.einsum("ck,nkhw->nchw", alpha, act), 0)
    return {
        "probabilities": e / e.sum(axis=1, keepdims=True),
        "logits": logits,
        "gradcam": cams,
        "embedding": embedding,
    }


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny.onnx")
