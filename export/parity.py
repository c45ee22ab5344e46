"""Parity of an exported ONNX model with its Keras source.

- probabilities: max |ONNX - Keras| <= 1e-4;
- Grad-CAM: against a TensorFlow ``GradientTape`` reference (the textbook computation, no code
  shared with gradcam_graph.py), per map (image x class): Pearson >= 0.999 and
  max |ONNX - reference| <= 1e-3 of the reference map's range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PROB_TOLERANCE = 1e-4
CAM_MIN_PEARSON = 0.999
CAM_MAX_REL_DIFF = 1e-3


class ParityError(RuntimeError):
    """The exported model does not reproduce its source within tolerance."""


@dataclass(frozen=True)
class ParityReport:
    images: int
    prob_max_abs_diff: float
    cam_min_pearson: float
    cam_max_rel_diff: float
    cam_maps_compared: int
    top1_agreement: float

    @property
    def ok(self) -> bool:
        return (
            self.prob_max_abs_diff <= PROB_TOLERANCE
            and self.cam_min_pearson >= CAM_MIN_PEARSON
            and self.cam_max_rel_diff <= CAM_MAX_REL_DIFF
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "tolerances": {
            "prob_max_abs_diff": PROB_TOLERANCE,
            "cam_min_pearson": CAM_MIN_PEARSON,
            "cam_max_rel_diff": CAM_MAX_REL_DIFF,
        }}

    def describe(self) -> str:
        return (
            f"parity on {self.images} MRI slices: probabilities max |diff| = "
            f"{self.prob_max_abs_diff:.2e} (<= {PROB_TOLERANCE:g}); Grad-CAM min Pearson = "
            f"{self.cam_min_pearson:.6f} (>= {CAM_MIN_PEARSON}), max |diff| / range = "
            f"{self.cam_max_rel_diff:.2e} (<= {CAM_MAX_REL_DIFF:g}) over {self.cam_maps_compared} "
            f"maps; top-1 agreement {self.top1_agreement:.0%}"
        )


def _final_dense(model):
    from keras import layers

    denses = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not denses:
        raise ParityError("the model has no Dense logits layer")
    return denses[-1]


def tape_gradcam(model, layer_name: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, C], Grad-CAM [N, C, h, w]) computed with tf.GradientTape."""
    import keras
    import tensorflow as tf

    dense = _final_dense(model)
    sub = keras.Model(model.inputs[0], [model.get_layer(layer_name).output, dense.input])
    x = tf.constant(images, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a, hidden = sub(x, training=False)
        logits = tf.matmul(hidden, dense.kernel) + (dense.bias if dense.bias is not None else 0.0)
        targets = [tf.reduce_sum(logits[:, c]) for c in range(logits.shape[-1])]
    cams = []
    for target in targets:
        grads = tape.gradient(target, a)  # [N, h, w, K]
        alpha = tf.reduce_mean(grads, axis=[1, 2])  # [N, K]
        cams.append(tf.nn.relu(tf.einsum("nhwk,nk->nhw", a, alpha)).numpy())
    del tape
    probs = model.predict(images, verbose=0, batch_size=8)
    return np.asarray(probs), np.stack(cams, axis=1)


def compare(
    probs: np.ndarray, cams: np.ndarray, ref_probs: np.ndarray, ref_cams: np.ndarray
) -> ParityReport:
    prob_diff = float(np.max(np.abs(probs - ref_probs)))
    pearsons, rels = [], []
    overall = float(ref_cams.max() - ref_cams.min())
    for got, ref in zip(cams.reshape(-1, *cams.shape[2:]), ref_cams.reshape(-1, *ref_cams.shape[2:])):
        span = float(ref.max() - ref.min())
        diff = float(np.max(np.abs(got - ref)))
        if span <= 1e-9 * max(overall, 1e-30):  # a flat (all-zero) map: no evidence for this class
            rels.append(diff / overall if overall > 0 else (0.0 if diff == 0 else np.inf))
            continue
        rels.append(diff / span)
        if np.std(got) > 0:
            pearsons.append(float(np.corrcoef(got.ravel(), ref.ravel())[0, 1]))
        else:
            pearsons.append(0.0)
    agreement = float(np.mean(np.argmax(probs, 1) == np.argmax(ref_probs, 1)))
    return ParityReport(
        images=int(probs.shape[0]),
        prob_max_abs_diff=prob_diff,
        cam_min_pearson=min(pearsons) if pearsons else 1.0,
        cam_max_rel_diff=max(rels) if rels else 0.0,
        cam_maps_compared=len(pearsons),
        top1_agreement=agreement,
    )


def run_onnx(model_bytes_or_path, images: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from app.core.model.card import OUTPUT_NAMES

    source = model_bytes_or_path if isinstance(model_bytes_or_path, bytes) else str(model_bytes_or_path)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    values = session.run(list(OUTPUT_NAMES), {"image": images.astype(np.float32)})
    return dict(zip(OUTPUT_NAMES, values))


def check_parity(onnx_model, keras_model, layer_name: str, images: np.ndarray) -> ParityReport:
    """Runs both models on ``images`` and raises ParityError when a tolerance is missed."""
    out = run_onnx(onnx_model, images)
    ref_probs, ref_cams = tape_gradcam(keras_model, layer_name, images)
    report = compare(out["probabilities"], out["gradcam"], ref_probs, ref_cams)
    if not report.ok:
        raise ParityError("the exported model failed its parity check: " + report.describe())
    return report
