"""The classifier against the tiny NumPy-checkable model: card, refusals, providers, figures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from app.core.model import providers
from app.core.errors import ModelLoadError
from app.core.model.inference import Classifier, default_model_path, softmax
from tests import mri_data
from tests.model_fixtures import CLASSES, build_tiny_model, reference_outputs, tiny_card, tiny_model


@pytest.fixture(scope="module")
def brain() -> np.ndarray:
    return mri_data.to_uint8(mri_data.axial_slice(90))


def test_outputs_match_numpy_reference(tiny_model, brain):
    clf = Classifier(tiny_model, device="cpu")
    prepared = clf.prepare(brain)
    (pred,) = clf.run([prepared])
    ref = reference_outputs(prepared.tensor[None])
    np.testing.assert_allclose(pred.logits, ref["logits"][0], atol=1e-5)
    np.testing.assert_allclose(pred.probabilities, ref["probabilities"][0], atol=1e-5)
    np.testing.assert_allclose(pred.cams, ref["gradcam"][0], atol=1e-5)
    np.testing.assert_allclose(pred.embedding, ref["embedding"][0], atol=1e-5)
    assert pred.class_names == CLASSES
    assert pred.predicted_class == CLASSES[int(np.argmax(ref["probabilities"][0]))]
    assert pred.confidence == pytest.approx(pred.probabilities.max())
    assert pred.p_tumour == pytest.approx(1.0 - pred.probability("notumor"))
    assert pred.assessed and pred.heatmap().shape == brain.shape


def test_batch_equals_one_by_one(tiny_model, brain):
    clf = Classifier(tiny_model, device="cpu")
    images = [brain, mri_data.to_uint8(mri_data.axial_slice(70)), np.dstack([brain] * 3)]
    together = clf.predict(images, batch_size=8)
    alone = [clf.predict([image])[0] for image in images]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
    assert len(clf.classify([type("S", (), {"display": brain})()])) == 1


def test_temperature_softens_probabilities(tmp_path, brain):
    hot = Classifier(build_tiny_model(tmp_path / "t.onnx", card=tiny_card(temperature=3.0)), device="cpu")
    cold = Classifier(build_tiny_model(tmp_path / "c.onnx"), device="cpu")
    (p_hot,), (p_cold,) = hot.predict([brain]), cold.predict([brain])
    np.testing.assert_allclose(p_hot.logits, p_cold.logits, atol=1e-6)
    np.testing.assert_allclose(p_hot.probabilities, softmax(p_cold.logits / 3.0), atol=1e-6)
    assert p_hot.confidence < p_cold.confidence
    assert p_hot.predicted_index == p_cold.predicted_index


def test_no_tumour_class_absent_gives_no_p_tumour(tmp_path, brain):
    clf = Classifier(build_tiny_model(tmp_path / "m.onnx", card=tiny_card(no_tumour_class=None)), device="cpu")
    assert clf.predict([brain])[0].p_tumour is None


def test_low_confidence_flag_follows_card_threshold(tmp_path, brain):
    always = Classifier(build_tiny_model(tmp_path / "a.onnx", card=tiny_card(low_confidence_threshold=1.01)))
    never = Classifier(build_tiny_model(tmp_path / "n.onnx", card=tiny_card(low_confidence_threshold=0.0)))
    assert "low_confidence" in always.predict([brain])[0].flags
    assert "low_confidence" not in never.predict([brain])[0].flags


def test_out_of_distribution_inputs_are_not_assessed(tiny_model, brain):
    clf = Classifier(tiny_model, device="cpu")
    blank = np.zeros((256, 256), np.uint8)
    noise_colour = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    p_blank, p_colour, p_brain = clf.predict([blank, noise_colour, brain])
    assert not p_blank.assessed and "blank_image" in p_blank.ood_reasons
    assert p_blank.label == "not assessed" and "out_of_distribution" in p_blank.flags
    assert not p_colour.assessed and "colour_image" in p_colour.ood_reasons
    assert p_brain.assessed and p_brain.label == p_brain.predicted_class


def test_embedding_reference_flags_outliers(tmp_path, brain):
    base = Classifier(build_tiny_model(tmp_path / "b.onnx"), device="cpu").predict([brain])[0].embedding
    near = {"mean": base.tolist(), "std": [1.0] * len(base), "threshold": 3.0}
    far = {"mean": (base + 100).tolist(), "std": [1.0] * len(base), "threshold": 3.0}
    ok = Classifier(build_tiny_model(tmp_path / "near.onnx", card=tiny_card(ood_reference=near)))
    bad = Classifier(build_tiny_model(tmp_path / "far.onnx", card=tiny_card(ood_reference=far)))
    p_ok, p_bad = ok.predict([brain])[0], bad.predict([brain])[0]
    assert p_ok.assessed and p_ok.ood_distance == pytest.approx(0.0, abs=1e-5)
    assert not p_bad.assessed and p_bad.ood_reasons == ("embedding_outlier",)
    assert p_bad.ood_distance == pytest.approx(100.0, rel=1e-4)


def test_crop_places_cam_inside_head_box(tmp_path):
    image = np.zeros((200, 300), np.uint8)
    image[50:150, 100:220] = mri_data.to_uint8(mri_data.axial_slice(90))[60:160, 40:160]
    clf = Classifier(build_tiny_model(tmp_path / "crop.onnx", card=tiny_card(crop=True)), device="cpu")
    pred = clf.predict([image])[0]
    top, bottom, left, right = pred.crop_box
    assert 45 <= top and bottom <= 155 and 95 <= left and right <= 225
    heat = pred.heatmap(0)
    assert heat.shape == image.shape
    assert heat[:top].max() == 0 and heat[:, right:].max() == 0
    assert clf.predict([image], crop=False)[0].crop_box is None


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"with_card": False}, "not a BrainLens model"),
        ({"card_json": "{not json"}, "model card"),
        ({"card_json": json.dumps({"format": "other"})}, "model card"),
        ({"input_name": "input_1"}, "single input named 'image'"),
        ({"input_shape": ("N", 32, 32, 3)}, "input shape"),
        ({"drop_outputs": ("gradcam", "embedding")}, "gradcam, embedding"),
    ],
)
def test_refuses_models_that_break_the_contract(tmp_path, kwargs, words):
    path = build_tiny_model(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ModelLoadError, match=words):
        Classifier(path)


def test_refuses_missing_truncated_and_garbage_files(tmp_path, tiny_model):
    with pytest.raises(ModelLoadError, match="not found"):
        Classifier(tmp_path / "absent.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_model.read_bytes()[: tiny_model.stat().st_size // 2])
    garbage = tmp_path / "photo.onnx"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 this is a JPEG, not a model" * 10)
    for path in (truncated, garbage):
        with pytest.raises(ModelLoadError, match="not a valid ONNX model|not a BrainLens model"):
            Classifier(path)


def test_model_hash_and_card(tiny_model):
    import hashlib

    clf = Classifier(tiny_model)
    assert clf.model_sha256 == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert clf.card == tiny_card()


def test_default_model_path_points_into_resources(monkeypatch, tmp_path):
    assert default_model_path().parts[-3:] == ("resources", "models", "brainlens-vgg16.onnx")
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    assert default_model_path() == tmp_path / "resources" / "models" / "brainlens-vgg16.onnx"


# -- execution providers -----------------------------------------------------------------------
ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cpu_device_never_asks_for_gpu():
    assert providers.choose_providers("cpu", ALL).providers == ["CPUExecutionProvider"]


def test_gpu_listed_but_unusable_is_not_requested(monkeypatch):
    monkeypatch.setattr(providers, "nvidia_provider_loadable", lambda name: False)
    auto = providers.choose_providers("auto", ALL)
    assert auto.providers == ["CPUExecutionProvider"] and auto.note is None
    gpu = providers.choose_providers("gpu", ALL)
    assert gpu.providers == ["CPUExecutionProvider"] and "running on the CPU" in gpu.note


def test_usable_gpus_come_first_in_preference_order(monkeypatch):
    monkeypatch.setattr(providers, "nvidia_provider_loadable", lambda name: name == "CUDAExecutionProvider")
    assert providers.choose_providers("auto", ALL).providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    dml = ["DmlExecutionProvider", "CPUExecutionProvider"]
    assert providers.choose_providers("gpu", dml).providers == dml


def test_no_driver_means_no_cuda_and_no_error_output(capfd):
    if providers.cuda_device_count() > 0:
        pytest.skip("this machine has a CUDA GPU")
    assert not providers.nvidia_provider_loadable("CUDAExecutionProvider")
    assert capfd.readouterr().err == ""


def test_gpu_request_on_cpu_machine_reports_cpu_quietly(tiny_model, monkeypatch, capfd):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(ALL))
    monkeypatch.setattr(providers, "nvidia_provider_loadable", lambda name: False)
    clf = Classifier(tiny_model, device="gpu")
    assert clf.device == "CPU" and clf.providers == ["CPUExecutionProvider"]
    assert "running on the CPU" in clf.device_note
    assert "onnxruntime" not in capfd.readouterr().err


def test_session_falling_back_to_cpu_is_reported(tiny_model, monkeypatch):
    """A GPU provider that was requested but dropped by the session: the device really in use is shown."""
    import app.core.model.inference as inference

    both = providers.ProviderChoice(["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(inference, "choose_providers", lambda device: both)
    real = inference._create_session

    def cpu_only(data, requested, threads, path):
        return real(data, ["CPUExecutionProvider"], threads, path)

    monkeypatch.setattr(inference, "_create_session", cpu_only)
    clf = Classifier(tiny_model, device="auto")
    assert clf.device == "CPU"
    assert clf.requested_providers[0] == "CUDAExecutionProvider"
    assert clf.device_note == "The GPU could not be used; running on the CPU."


def test_device_words_and_bad_device():
    assert providers.device_words("CUDAExecutionProvider") == "GPU (CUDA)"
    assert providers.device_words("CPUExecutionProvider") == "CPU"
    with pytest.raises(ValueError):
        providers.choose_providers("tpu")
    assert providers.physical_cores() >= 1


def test_session_uses_physical_cores_and_full_optimisation(tiny_model, monkeypatch):
    import onnxruntime as ort

    seen = {}
    real = ort.InferenceSession

    def spy(data, options=None, providers=None, **kw):
        seen["threads"] = options.intra_op_num_threads
        seen["level"] = options.graph_optimization_level
        return real(data, options, providers=providers, **kw)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    Classifier(tiny_model, device="cpu")
    assert seen == {"threads": providers.physical_cores(), "level": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def test_card_dataclass_round_trip_is_what_the_app_reads(tmp_path):
    card = dataclasses.replace(tiny_card(), display_names={"notumor": "No tumour"}, temperature=1.5)
    clf = Classifier(build_tiny_model(tmp_path / "m.onnx", card=card))
    assert clf.card.display_name("notumor") == "No tumour" and clf.card.temperature == 1.5


def test_cosine_reference_as_export_writes_it():
    from app.core.model.ood import embedding_distance

    ref = {"mean": [1.0, 0.0, 0.0], "metric": "cosine_distance", "threshold": 0.1}
    assert embedding_distance(np.array([2.0, 0.0, 0.0]), ref) == pytest.approx(0.0)
    assert embedding_distance(np.array([0.0, 3.0, 0.0]), ref) == pytest.approx(1.0)
    assert embedding_distance(np.zeros(3), ref) == 1.0
    assert embedding_distance(np.ones(4), ref) is None  # another model's size
    assert embedding_distance(np.ones(3), {**ref, "metric": "mystery"}) is None


def test_tensorrt_gets_an_engine_cache_other_providers_plain(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    out = providers.with_options(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    name, options = out[0]
    assert name == "TensorrtExecutionProvider" and options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"].startswith(str(tmp_path))
    assert out[1:] == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize("shape", [(512, 512), (300, 200), (512, 512, 3), (100, 120, 4), (64, 64, 1)])
def test_prepared_tensor_is_exactly_the_shared_preprocessing(tiny_model, shape):
    """prepare() resizes grey images before making them RGB: it must equal to_model_input bit for bit."""
    import cv2

    from app.core.model.preprocess import to_model_input

    base = cv2.resize(mri_data.to_uint8(mri_data.axial_slice(90)), (shape[1], shape[0]))
    image = base if len(shape) == 2 else np.dstack([base, base // 2, base // 3, base][: shape[2]])
    clf = Classifier(tiny_model, device="cpu")
    spec = clf.card.input
    expected = to_model_input(image, spec.height, spec.width, spec.value_range, spec.color)
    assert np.array_equal(clf.prepare(image, crop=False).tensor, expected)
