"""The rules every output shares (app.core.model.verdict, modality, numbers): one place, tested once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app.core.model import modality, verdict
from app.core.reports.numbers import format_percent, format_percent_short
from tests.model_fixtures import CLASSES


def _p(confidence=0.55, flags=(), assessed=True, p_tumour=0.4, reasons=()):
    return SimpleNamespace(confidence=confidence, flags=flags, assessed=assessed, p_tumour=p_tumour,
                           predicted_class="glioma", class_names=CLASSES,
                           probabilities=np.array([confidence, 0.2, 0.1, 0.15]), ood_reasons=reasons)


def test_the_users_threshold_decides_low_confidence_and_none_keeps_the_cards():
    unsure = _p(0.55, flags=("low_confidence",))
    assert verdict.flags_at(unsure, None) == ("low_confidence",)  # the card's verdict
    assert verdict.flags_at(unsure, 0.5) == ()
    assert verdict.flags_at(_p(0.7), 0.8) == ("low_confidence",)


def test_a_scan_not_assessed_has_no_figures_and_no_low_confidence():
    photo = _p(0.30, flags=("low_confidence", "out_of_distribution"), assessed=False, p_tumour=0.9999)
    assert verdict.flags_at(photo, None) == ("out_of_distribution",)
    assert verdict.flags_at(photo, 0.9) == ("out_of_distribution",)
    assert verdict.reported_class(photo) is None and verdict.reported_label(photo) == "not assessed"
    assert verdict.reported_confidence(photo) is None and verdict.reported_p_tumour(photo) is None
    assert verdict.reported_probabilities(photo) is None
    seen = _p(0.8)
    assert verdict.reported_probabilities(seen)["glioma"] == pytest.approx(0.8)


def test_top_slice_skips_not_assessed_slices_and_takes_the_first_of_ties():
    slices = [_p(p_tumour=0.2), _p(p_tumour=0.99, assessed=False), None, _p(p_tumour=0.6), _p(p_tumour=0.6)]
    assert verdict.top_slice(slices) == (3, pytest.approx(0.6))
    assert verdict.top_slice({7: slices[1]}) is None
    no_tumour_class = [_p(confidence=0.9, p_tumour=None), _p(confidence=0.95, p_tumour=None)]
    assert verdict.top_slice(no_tumour_class)[0] == 1  # falls back on the confidence


def test_only_a_card_with_a_fitted_temperature_counts_as_calibrated():
    assert not verdict.is_calibrated(SimpleNamespace(metrics={"note": "uncalibrated"}))
    assert not verdict.is_calibrated(SimpleNamespace(metrics={"temperature_fitted_on": None}))
    assert verdict.is_calibrated(SimpleNamespace(metrics={"temperature_fitted_on": "validation"}))


@pytest.mark.parametrize(("value", "text"), [
    (0.9996, "> 99.9 %"), (0.99949, "99.9 %"), (1.0, "100.0 %"), (0.0004, "< 0.1 %"), (0.0, "0.0 %"),
    (0.8734, "87.3 %"), (None, "—"),
])
def test_screen_percentages_never_round_up_to_certainty(value, text):
    assert format_percent_short(value) == text


def test_the_dicom_modality_names_the_real_cause():
    assert modality.modality_reason("MR") is None and modality.modality_reason(None) is None
    assert modality.modality_reason("OT") is None
    assert modality.modality_reason("ct") == "modality_CT"
    assert modality.describe_reason("modality_CT").startswith("this is a CT, not an MRI")
    assert "asymmetric" not in " ".join(modality.with_modality(("asymmetric_outline",), "modality_CT"))
    assert modality.with_modality(("blank_image",), None) == ("blank_image",)
    assert modality.describe_reason("blank_image") == "the image is (nearly) blank"


def test_the_audit_records_the_flags_and_figures_the_user_sees():
    from app.core.reports.audit import classification_event
    from app.core.model.identity import ModelInfo

    info = ModelInfo(name="m", version="1", sha256="ab" * 32, device="CPU", class_names=CLASSES)
    sure = _p(0.8)
    assert classification_event(sure, file_sha256=None, model_info=info).flags == ()
    strict = info.with_threshold(0.9)
    assert strict.low_confidence_threshold == 0.9 and info.with_threshold(None) is info
    assert classification_event(sure, file_sha256=None, model_info=strict).flags == ("low_confidence",)
    photo = classification_event(_p(0.3, assessed=False, p_tumour=0.99, flags=("out_of_distribution",)),
                                 file_sha256=None, model_info=strict)
    assert photo.result == "not assessed" and photo.confidence is None and photo.p_tumour is None
    assert photo.flags == ("out_of_distribution",)


@pytest.mark.parametrize(("value", "text"), [
    (0.99996, "> 99.99 %"), (0.99994, "99.99 %"), (1.0, "100.00 %"), (0.00004, "< 0.01 %"), (0.0, "0.00 %"),
    (0.8734, "87.34 %"), (None, "—"),
])
def test_report_percentages_keep_the_csv_digits_but_never_round_up_to_certainty(value, text):
    assert format_percent(value) == text
