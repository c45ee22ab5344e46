"""The classifier on the real default model (skipped when `make model` has not been run)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.model.inference import Classifier
from app.core.scans.loading import load_scans
from app.core.model.preprocess import to_model_input
from tests import mri_data


@pytest.fixture(scope="module")
def vgg(default_model_path) -> Classifier:
    return Classifier(default_model_path, device="cpu")


def test_card_and_figures_on_a_healthy_template_slice(vgg, mni_png):
    assert vgg.card.input.height == 240 and vgg.card.no_tumour_class == "notumor"
    scan = load_scans(mni_png)[0]
    (pred,) = vgg.classify([scan])
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.cams.shape == (4, *vgg.card.gradcam_shape)
    assert pred.heatmap().shape == scan.shape and 0 <= pred.heatmap().min() <= pred.heatmap().max() <= 1
    # the template is a healthy brain: the fine-tuned model calls it "no tumour", and it is in distribution
    assert pred.predicted_class == "notumor" and pred.assessed
    assert pred.p_tumour == pytest.approx(1 - pred.probability("notumor"))


def test_probabilities_are_the_models_logits_at_the_cards_temperature(vgg):
    import onnxruntime as ort

    image = mri_data.to_uint8(mri_data.axial_slice(75))
    spec = vgg.card.input
    x = to_model_input(image, spec.height, spec.width, spec.value_range)[None]
    session = ort.InferenceSession(str(vgg.path), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"image": x})[0][0].astype(np.float64) / vgg.card.temperature
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert vgg.card.temperature != 1.0  # fitted on the calibration scans
    np.testing.assert_allclose(vgg.predict([image])[0].probabilities, expected, atol=1e-5)


def test_a_ct_slice_and_a_blank_image_are_not_assessed(vgg):
    ct = load_scans(mri_data.pydicom_file("CT_small.dcm"))[0]
    blank = np.zeros((240, 240), np.uint8)
    p_ct, p_blank = vgg.predict([ct.display, blank])
    assert not p_blank.assessed and "blank_image" in p_blank.ood_reasons
    assert not p_ct.assessed and p_ct.label == "not assessed"
