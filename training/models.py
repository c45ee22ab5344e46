"""Keras model builders: the seeds' VGG16 transfer model and a small custom CNN.

Every BrainLens model has the same shape of graph so that export and the app need no
model-specific code:

    image (RGB, float32 in [0, 1], NHWC)
      -> [optional input adapter, e.g. ImageNet "caffe" scaling]
      -> convolutional feature extractor, whose last conv layer is the Grad-CAM layer
      -> head (pooling/flatten, Dense/BatchNorm/Dropout stack)
      -> Dense "logits" (linear) -> Activation "probabilities" (softmax)

The head is kept to layer types whose backward pass export/ writes out by hand
(tf2onnx cannot convert TensorFlow's gradient ops), see export/gradcam_graph.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

VGG16_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG16_GRADCAM_LAYER = "block5_conv3"
CNN_GRADCAM_LAYER = "last_conv"
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="brainlens")
class CaffeInputAdapter(layers.Layer):
    """Maps RGB in [0, 1] to the BGR, mean-subtracted 0-255 input ImageNet VGG16 expects.

    Written as a matrix product (not a channel flip) so tf2onnx emits one MatMul.
    """

    def call(self, x):
        rgb_to_bgr_255 = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], dtype="float32")
        mean = np.array(IMAGENET_BGR_MEAN, dtype="float32")
        return keras.ops.matmul(x, rgb_to_bgr_255) - mean


def _head(
    x,
    num_classes: int,
    head_units: Sequence[int],
    head_batchnorm: bool,
    dropout: float,
    pooling: str,
):
    if pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    elif pooling == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        raise ValueError(f"unknown pooling {pooling!r}: use 'flatten' or 'gap'")
    for i, units in enumerate(head_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"head_dense_{i}")(x)
        if head_batchnorm:
            x = layers.BatchNormalization(name=f"head_bn_{i}")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    logits = layers.Dense(num_classes, activation=None, name="logits")(x)
    return layers.Activation("softmax", name="probabilities")(logits)


def build_vgg16(
    num_classes: int,
    img_size: int = 224,
    *,
    weights: str | None = None,
    fine_tune_layers: int = 3,
    head_units: Sequence[int] = (128,),
    head_batchnorm: bool = False,
    dropout: float = 0.3,
    input_adapter: str | None = None,
) -> keras.Model:
    """VGG16 base + the seeds' head (Flatten -> Dense(128, ReLU) -> Dropout(0.3) -> Dense).

    weights: None (random), "imagenet" (downloads Keras' notop weights; needs internet)
    or a path to a Keras ``.weights.h5`` file of this same architecture.
    input_adapter: None (the model sees RGB in [0, 1]) or "caffe" (ImageNet scaling;
    the default when weights == "imagenet").
    fine_tune_layers: how many of the last conv layers stay trainable; the rest are frozen.
    """
    if input_adapter is None and weights == "imagenet":
        input_adapter = "caffe"
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x = CaffeInputAdapter(name="caffe_input")(inputs) if input_adapter == "caffe" else inputs
    conv_names: list[str] = []
    for block, (filters, n_conv) in enumerate(VGG16_BLOCKS, start=1):
        for conv in range(1, n_conv + 1):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
            conv_names.append(name)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    outputs = _head(x, num_classes, head_units, head_batchnorm, dropout, pooling="flatten")
    model = keras.Model(inputs, outputs, name="brainlens_vgg16")

    if weights == "imagenet":
        reference = keras.applications.VGG16(
            weights="imagenet", include_top=False, input_shape=(img_size, img_size, 3)
        )
        for name in conv_names:
            model.get_layer(name).set_weights(reference.get_layer(name).get_weights())
    elif weights not in (None, "none"):
        model.load_weights(weights)

    trainable = set(conv_names[len(conv_names) - fine_tune_layers :]) if fine_tune_layers else set()
    for name in conv_names:
        model.get_layer(name).trainable = name in trainable
    return model


def build_cnn(num_classes: int, img_size: int = 128, *, dropout: float = 0.3, pooling: str = "gap") -> keras.Model:
    """A small CNN that trains in minutes on a CPU (the seeds' "custom CNN").

    pooling: "gap" (global average pooling: small, position-blind) or "flatten" (keeps where in
    the slice a feature is, as the seeds' custom CNNs did; training's default, since position is
    part of what separates the classes, e.g. a pituitary mass sits in the sella).
    """
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x = inputs
    for i, filters in enumerate((32, 64, 128), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu", name=CNN_GRADCAM_LAYER)(x)
    outputs = _head(x, num_classes, (64,), False, dropout, pooling=pooling)
    return keras.Model(inputs, outputs, name="brainlens_cnn")


def build_model(arch: str, num_classes: int, img_size: int, **kwargs) -> keras.Model:
    if arch == "vgg16":
        return build_vgg16(num_classes, img_size, **kwargs)
    if arch == "cnn":
        return build_cnn(num_classes, img_size, **{k: v for k, v in kwargs.items() if k in ("dropout", "pooling")})
    raise ValueError(f"unknown architecture {arch!r}: use 'vgg16' or 'cnn'")


def gradcam_layer_name(model: keras.Model) -> str:
    """The last Conv2D layer: the Grad-CAM target unless the user names another."""
    convs = [layer.name for layer in model.layers if isinstance(layer, layers.Conv2D)]
    if not convs:
        raise ValueError(f"model {model.name!r} has no Conv2D layer to explain with Grad-CAM")
    return convs[-1]
