"""export.gradcam_graph: the hand-written head backward pass equals TensorFlow's GradientTape."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from export.gradcam_graph import (  # noqa: E402
    UnsupportedHeadError,
    gradcam_from_gradients,
    head_forward_backward,
    head_steps,
)
from export.parity import tape_gradcam  # noqa: E402
from training.models import build_cnn, build_vgg16  # noqa: E402


def tape_head_gradients(model, layer_name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, d logit_c / d A for every c) through the model's own Keras head layers."""
    names = [layer.name for layer in model.layers]
    head = model.layers[names.index(layer_name) + 1 :]
    a = tf.constant(a)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(a)
        x = a
        for layer in head:
            if layer.name == "probabilities":
                break
            x = layer(x, training=False)
        per_class = [tf.reduce_sum(x[:, c]) for c in range(x.shape[-1])]
    grads = np.stack([tape.gradient(t, a).numpy() for t in per_class], axis=1)
    return x.numpy(), grads


def features(model, layer_name, x):
    return keras.Model(model.inputs[0], model.get_layer(layer_name).output)(x).numpy()


def randomise_batchnorm(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            units = layer.gamma.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 2.0, units).astype("float32"), rng.normal(0, 0.5, units).astype("float32"),
                rng.normal(0, 0.5, units).astype("float32"), rng.uniform(0.5, 2.0, units).astype("float32"),
            ])


@pytest.mark.parametrize(
    "build, layer_name",
    [
        (lambda: build_vgg16(4, 64, head_units=(32, 16), head_batchnorm=True, dropout=0.3), "block5_conv3"),
        (lambda: build_cnn(4, 64), "last_conv"),
        (lambda: build_cnn(3, 48, pooling="flatten"), "last_conv"),
    ],
    ids=["vgg16-flatten-bn", "cnn-gap", "cnn-flatten-odd"],
)
def test_head_gradients_equal_gradient_tape(build, layer_name):
    keras.utils.set_random_seed(3)
    model = build()
    randomise_batchnorm(model, np.random.default_rng(3))
    size = model.inputs[0].shape[1]
    x = np.random.default_rng(0).random((3, size, size, 3), np.float32)
    a = features(model, layer_name, x)
    ref_logits, ref_grads = tape_head_gradients(model, layer_name, a)
    logits, grads = head_forward_backward(head_steps(model, layer_name), tf.constant(a))
    np.testing.assert_allclose(logits.numpy(), ref_logits, atol=1e-5, rtol=1e-5)
    assert grads.shape == ref_grads.shape == (3, model.outputs[0].shape[-1], *a.shape[1:])
    scale = np.abs(ref_grads).max()
    assert scale > 0
    np.testing.assert_allclose(grads.numpy(), ref_grads, atol=1e-5 * scale)


def test_maxpool_ties_go_to_the_first_maximum_like_tensorflow():
    """Windows of zeros (dead ReLUs) and repeated maxima: the gradient goes to one position,
    the first in raster order, as MaxPoolGrad does; an equality mask would be wrong here."""
    inputs = keras.Input((5, 5, 3))  # odd size: valid pooling drops the last row and column
    x = keras.layers.MaxPooling2D(2, strides=2)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6, activation="relu")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, (4, 5, 5, 3)).astype(np.float32)  # values 0, 1, 2: ties everywhere
    a[0] = 0.0  # an all-zero image: every window is a 4-way tie
    windows = a[:, :4, :4].reshape(4, 2, 2, 2, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    assert np.mean((windows == windows.max(1, keepdims=True)).sum(1) > 1) > 0.3
    ref_logits, ref_grads = tape_head_gradients(model, model.layers[0].name, a)
    logits, grads = head_forward_backward(head_steps(model, model.layers[0].name), tf.constant(a))
    np.testing.assert_allclose(logits.numpy(), ref_logits, atol=1e-5)
    np.testing.assert_allclose(grads.numpy(), ref_grads, atol=1e-6)
    # exactly one position per window (per class, channel) receives the gradient
    routed = (np.abs(grads.numpy()[:, :, :4, :4]) > 0).reshape(4, 3, 2, 2, 2, 2, 3).sum(axis=(3, 5))
    assert routed.max() <= 1
    assert np.all(grads.numpy()[:, :, 4, :, :] == 0) and np.all(grads.numpy()[:, :, :, 4, :] == 0)


def test_gradcam_equals_the_tape_reference_on_mri():
    from export import reference_images

    keras.utils.set_random_seed(4)
    model = build_vgg16(4, 64, head_units=(32,), head_batchnorm=True, dropout=0.3)
    x = reference_images.axial_batch((60, 90, 110), 64, 64)
    a = features(model, "block5_conv3", x)
    _, grads = head_forward_backward(head_steps(model, "block5_conv3"), tf.constant(a))
    cams = gradcam_from_gradients(tf.constant(a), grads).numpy()
    _, ref = tape_gradcam(model, "block5_conv3", x)
    assert cams.shape == ref.shape == (3, 4, 4, 4)
    np.testing.assert_allclose(cams, ref, atol=1e-5 * max(ref.max(), 1e-6))


def test_unsupported_heads_are_refused_with_the_layer_named():
    model = build_vgg16(4, 32, head_units=(8,), dropout=0)
    with pytest.raises(UnsupportedHeadError, match="block5_conv3.*Conv2D"):
        head_steps(model, "block5_conv2")  # a conv layer would sit in the head
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.LayerNormalization(name="odd_norm")(x)
    out = keras.layers.Dense(2, activation="softmax")(x)
    with pytest.raises(UnsupportedHeadError, match="odd_norm.*LayerNormalization"):
        head_steps(keras.Model(inputs, out), "conv")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="c2")(inputs))
    out = keras.layers.Dense(2, activation="tanh")(x)
    with pytest.raises(UnsupportedHeadError, match="tanh"):
        head_steps(keras.Model(inputs, out), "c2")
    with pytest.raises(UnsupportedHeadError, match="no layer named"):
        head_steps(model, "nope")


def test_parity_comparison_figures():
    from export.parity import compare

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=2).astype(np.float32)
    cams = rng.random((2, 3, 5, 5)).astype(np.float32)
    cams[1, 2] = 0.0  # a class with no positive evidence
    same = compare(probs, cams, probs, cams)
    assert same.ok and same.prob_max_abs_diff == 0 and same.cam_min_pearson == pytest.approx(1.0)
    assert same.cam_maps_compared == 5  # the flat map is compared by its difference only
    noisy = cams + rng.normal(0, 0.05, cams.shape).astype(np.float32)
    report = compare(probs + 2e-4, noisy, probs, cams)
    assert not report.ok and report.prob_max_abs_diff == pytest.approx(2e-4, rel=1e-3)
    assert report.cam_min_pearson < 0.999 and report.cam_max_rel_diff > 1e-3
