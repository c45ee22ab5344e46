"""Grad-CAM for every class, written as plain forward TensorFlow ops that tf2onnx can convert.

tf2onnx 1.17 cannot convert TensorFlow's gradient kernels (``ReluGrad``, ``MaxPoolGrad``), so the
exported graph cannot call ``tf.GradientTape``. Instead this module writes the backward pass of the
model's *head* (everything after the Grad-CAM layer) by hand, for all classes at once:

    A = activation of the Grad-CAM layer                      [N, h, w, K]
    g = d logits / d(head activations), carried with a class axis [N, C, ...]
    alpha[n, c, k] = mean over (h, w) of d logit_c / d A       [N, C, K]
    gradcam[n, c] = ReLU(sum_k alpha[n, c, k] * A[n, :, :, k])  [N, C, h, w]

(Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017.) Supported head layers: MaxPooling2D (2x2, stride 2, valid), Flatten,
GlobalAveragePooling2D, Dense (ReLU or linear; the last may be softmax), BatchNormalization
(inference mode), Dropout (identity), Activation (ReLU/linear; softmax last). Anything else is
refused with :class:`UnsupportedHeadError`.

MaxPooling's gradient goes to the *first* maximum of each window in raster order, as TensorFlow's
``MaxPoolGrad`` does; ties are common (windows of zeros after a ReLU), so it uses argmax + one-hot,
not an equality mask (which would send the gradient to every tied position).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from export.errors import UnsupportedHeadError

__all__ = ["UnsupportedHeadError", "head_steps", "head_forward_backward", "serving_function"]


class HeadStep(ABC):
    """One layer of the head: ``forward`` returns its output and what ``backward`` needs; ``backward``
    maps d logits / d output [N, C, ...] to d logits / d input."""

    layer: keras.layers.Layer

    @abstractmethod
    def forward(self, x: tf.Tensor) -> tuple[tf.Tensor, object]: ...

    @abstractmethod
    def backward(self, g: tf.Tensor, saved: object) -> tf.Tensor: ...


@dataclass(frozen=True, eq=False)
class MaxPool(HeadStep):
    """2x2 max pooling, stride 2, valid padding."""

    layer: keras.layers.Layer

    def forward(self, x):
        return tf.nn.max_pool2d(x, 2, 2, "VALID"), x

    def backward(self, g, saved):
        return _maxpool_backward(saved, g)


@dataclass(frozen=True, eq=False)
class Flatten(HeadStep):
    layer: keras.layers.Layer

    def forward(self, x):
        return tf.reshape(x, tf.stack([tf.shape(x)[0], int(np.prod(x.shape[1:]))])), x.shape[1:]

    def backward(self, g, saved):
        return tf.reshape(g, tf.concat([tf.shape(g)[:2], saved], axis=0))


@dataclass(frozen=True, eq=False)
class GlobalAveragePool(HeadStep):
    layer: keras.layers.Layer

    def forward(self, x):
        return tf.reduce_mean(x, axis=[1, 2]), x.shape[1:]

    def backward(self, g, saved):
        h, w, k = saved
        return tf.broadcast_to(g[:, :, None, None, :] / float(h * w), tf.concat([tf.shape(g)[:2], [h, w, k]], axis=0))


@dataclass(frozen=True, eq=False)
class Dense(HeadStep):
    """A Dense layer with a linear or ReLU activation (the logits layer is linear)."""

    layer: keras.layers.Layer
    kernel: np.ndarray
    bias: np.ndarray
    relu: bool = False

    def forward(self, x):
        pre = tf.matmul(x, tf.constant(self.kernel)) + tf.constant(self.bias)
        return (tf.nn.relu(pre), pre) if self.relu else (pre, None)

    def backward(self, g, saved):
        if self.relu:
            g = g * tf.cast(saved > 0, g.dtype)[:, None, :]
        return tf.matmul(g, tf.constant(self.kernel), transpose_b=True)


@dataclass(frozen=True, eq=False)
class BatchNorm(HeadStep):
    """Inference-mode batch normalisation folded into a per-channel scale and offset."""

    layer: keras.layers.Layer
    scale: np.ndarray
    offset: np.ndarray

    def forward(self, x):
        return x * self.scale + self.offset, None

    def backward(self, g, saved):
        return g * tf.constant(self.scale)


@dataclass(frozen=True, eq=False)
class Relu(HeadStep):
    layer: keras.layers.Layer

    def forward(self, x):
        return tf.nn.relu(x), x

    def backward(self, g, saved):
        return g * tf.cast(saved > 0, g.dtype)[:, None, :]


def _activation_name(fn) -> str:
    return getattr(fn, "__name__", str(fn))


def head_steps(model: keras.Model, layer_name: str) -> list[HeadStep]:
    """The layers from ``layer_name`` (exclusive) up to the logits, as HeadSteps: identities (Dropout, linear
    activations) are left out and the last step is the logits Dense (its softmax is applied by the caller)."""
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise UnsupportedHeadError(f"the model has no layer named {layer_name!r}")
    start = names.index(layer_name)
    target = model.layers[start]
    if len(target.output.shape) != 4:
        raise UnsupportedHeadError(f"Grad-CAM layer {layer_name!r} must output [N, h, w, K]")
    chain: list[tuple[keras.layers.Layer, str]] = []  # (layer, kind) with kind as _kind() says
    prev = target
    for layer in model.layers[start + 1 :]:
        if layer.input is not prev.output:
            raise UnsupportedHeadError(
                f"the head after {layer_name!r} is not a simple chain (layer {layer.name!r})"
            )
        chain.append((layer, _kind(layer)))
        prev = layer
    if prev.output is not model.outputs[0] or len(model.outputs) != 1:
        raise UnsupportedHeadError("the head must end at the model's single output")
    if not chain:
        raise UnsupportedHeadError(f"{layer_name!r} is the output layer; it has no head to explain")
    kinds = [kind for _, kind in chain]
    if kinds[-1] == "softmax" and len(kinds) >= 2 and kinds[-2].startswith("dense"):
        chain, kinds = chain[:-1], kinds[:-1]
    elif kinds[-1] != "dense-softmax":
        raise UnsupportedHeadError("the model must end in Dense + softmax (the logits must be reachable)")
    if "softmax" in kinds or "dense-softmax" in kinds[:-1]:
        raise UnsupportedHeadError("softmax is only supported as the last layer")
    if kinds[-1] == "dense-relu":
        raise UnsupportedHeadError(f"{chain[-1][0].name}: the logits layer must be linear")
    return [_step(layer, kind) for layer, kind in chain if kind != "identity"]


def _kind(layer: keras.layers.Layer) -> str:
    """What a head layer is, after checking the exported graph supports it."""
    if isinstance(layer, layers.MaxPooling2D):
        if (
            tuple(layer.pool_size) != (2, 2)
            or tuple(layer.strides) != (2, 2)
            or layer.padding != "valid"
            or layer.data_format != "channels_last"
        ):
            raise UnsupportedHeadError(f"{layer.name}: only 2x2/2 valid channels-last max pooling")
        return "maxpool"
    if isinstance(layer, layers.Flatten):
        return "flatten"
    if isinstance(layer, layers.GlobalAveragePooling2D):
        if layer.keepdims or layer.data_format != "channels_last":
            raise UnsupportedHeadError(f"{layer.name}: only channels-last GAP without keepdims")
        return "gap"
    if isinstance(layer, layers.Dense):
        act = _activation_name(layer.activation)
        if act not in ("relu", "linear", "softmax"):
            raise UnsupportedHeadError(f"{layer.name}: Dense activation {act!r} is not supported")
        return f"dense-{act}"
    if isinstance(layer, layers.BatchNormalization):
        if layer.axis not in (-1, 1) and layer.axis != [-1]:
            raise UnsupportedHeadError(f"{layer.name}: BatchNormalization must normalise the last axis")
        return "bn"
    if isinstance(layer, layers.Dropout):
        return "identity"
    if isinstance(layer, layers.Activation):
        act = _activation_name(layer.activation)
        if act in ("relu", "linear", "softmax"):
            return {"linear": "identity"}.get(act, act)
    raise UnsupportedHeadError(
        f"layer {layer.name!r} ({type(layer).__name__}) after the Grad-CAM layer is not supported by the "
        "exported Grad-CAM graph; supported: MaxPooling2D 2x2, Flatten, GlobalAveragePooling2D, Dense "
        "(ReLU/linear/softmax), BatchNormalization, Dropout, Activation"
    )


def _step(layer: keras.layers.Layer, kind: str) -> HeadStep:
    if kind.startswith("dense"):
        kernel = np.asarray(layer.kernel.numpy(), np.float32)
        bias = layer.bias.numpy() if layer.bias is not None else np.zeros(kernel.shape[1], np.float32)
        return Dense(layer, kernel, np.asarray(bias, np.float32), relu=kind == "dense-relu")
    if kind == "bn":
        return BatchNorm(layer, *_bn_scale_offset(layer))
    return {"maxpool": MaxPool, "flatten": Flatten, "gap": GlobalAveragePool, "relu": Relu}[kind](layer)


def _bn_scale_offset(layer) -> tuple[np.ndarray, np.ndarray]:
    var = np.asarray(layer.moving_variance.numpy(), np.float32)
    mean = np.asarray(layer.moving_mean.numpy(), np.float32)
    gamma = layer.gamma.numpy() if layer.gamma is not None else np.ones_like(var)
    beta = layer.beta.numpy() if layer.beta is not None else np.zeros_like(var)
    inv = (1.0 / np.sqrt(var + np.float32(layer.epsilon))) * gamma
    return inv.astype(np.float32), (beta - mean * inv).astype(np.float32)


def _maxpool_backward(a: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """Routes g [N, C, h2, w2, K] to the first max of each 2x2 window of a [N, h, w, K]."""
    n = tf.shape(a)[0]
    h, w, k = a.shape[1], a.shape[2], a.shape[3]
    h2, w2 = h // 2, w // 2
    c = g.shape[1]
    windows = tf.reshape(a[:, : 2 * h2, : 2 * w2, :], tf.stack([n, h2, 2, w2, 2, k]))
    windows = tf.reshape(tf.transpose(windows, [0, 1, 3, 5, 2, 4]), tf.stack([n, h2, w2, k, 4]))
    first_max = tf.one_hot(tf.argmax(windows, axis=-1, output_type=tf.int32), 4, dtype=a.dtype)
    routed = g[..., None] * first_max[:, None]  # [N, C, h2, w2, K, 4]
    routed = tf.reshape(routed, tf.stack([n, c, h2, w2, k, 2, 2]))
    routed = tf.transpose(routed, [0, 1, 2, 5, 3, 6, 4])  # [N, C, h2, 2, w2, 2, K]
    routed = tf.reshape(routed, tf.stack([n, c, 2 * h2, 2 * w2, k]))
    if (h, w) != (2 * h2, 2 * w2):  # valid pooling drops the last odd row/column
        routed = tf.pad(routed, [[0, 0], [0, 0], [0, h - 2 * h2], [0, w - 2 * w2], [0, 0]])
    return routed


def head_forward_backward(steps: list[HeadStep], a: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """logits [N, C] and d logit_c / d a for every class c: [N, C, h, w, K]."""
    saved = []
    x = a
    for step in steps:
        x, kept = step.forward(x)
        saved.append(kept)
    logits = x
    g = tf.eye(logits.shape[-1], dtype=a.dtype)[None]  # d logits / d logits: [1, C, C]
    for step, kept in zip(reversed(steps), reversed(saved)):
        g = step.backward(g, kept)
    n = tf.shape(a)[0]
    g = tf.broadcast_to(g, tf.concat([[n], tf.shape(g)[1:]], axis=0))
    return logits, g


def gradcam_from_gradients(a: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
    """ReLU(sum_k mean_hw(grads)[c, k] * a[..., k]) -> [N, C, h, w]."""
    alpha = tf.reduce_mean(grads, axis=[2, 3])  # [N, C, K]
    n = tf.shape(a)[0]
    h, w, k = a.shape[1], a.shape[2], a.shape[3]
    flat = tf.reshape(a, tf.stack([n, h * w, k]))
    cam = tf.matmul(alpha, flat, transpose_b=True)  # [N, C, h*w]
    return tf.nn.relu(tf.reshape(cam, tf.stack([n, tf.shape(alpha)[1], h, w])))


def serving_function(model: keras.Model, layer_name: str) -> Callable:
    """A tf.function image -> {probabilities, logits, gradcam, embedding} for export."""
    steps = head_steps(model, layer_name)
    features = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    height, width, channels = model.inputs[0].shape[1:]

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, "image")])
    def serve(image):
        a = features(image, training=False)
        logits, grads = head_forward_backward(steps, a)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "logits": logits,
            "gradcam": gradcam_from_gradients(a, grads),
            "embedding": tf.reduce_mean(a, axis=[1, 2]),
        }

    return serve
