"""Evaluation numbers checked against hand-worked examples (pure NumPy, no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training import metrics

NAMES = ("a", "b", "c")


def _logits_for(pred: list[int], confidence: list[float], num_classes: int = 3) -> np.ndarray:
    """Logits whose softmax puts ``confidence`` on ``pred`` and spreads the rest evenly."""
    rows = []
    for k, p in zip(pred, confidence):
        rest = (1.0 - p) / (num_classes - 1)
        probs = np.full(num_classes, rest)
        probs[k] = p
        rows.append(np.log(probs))
    return np.array(rows)


def test_confusion_matrix_and_per_class_scores_by_hand():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    m = metrics.confusion_matrix(np.array(y_true), np.array(y_pred), 3)
    assert m.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    scores = metrics.per_class_scores(m, NAMES)
    # a: precision 2/2, recall 2/3; b: precision 1/2, recall 1/2; c: precision 1/2, recall 1/1
    assert scores["a"]["precision"] == pytest.approx(1.0)
    assert scores["a"]["recall"] == pytest.approx(2 / 3)
    assert scores["a"]["f1"] == pytest.approx(0.8)
    assert scores["b"]["f1"] == pytest.approx(0.5)
    assert scores["c"]["precision"] == pytest.approx(0.5)
    assert scores["c"]["f1"] == pytest.approx(2 / 3)
    assert [scores[n]["support"] for n in NAMES] == [3, 2, 1]


def test_class_never_predicted_has_zero_precision_not_nan():
    m = metrics.confusion_matrix(np.array([0, 1]), np.array([0, 0]), 2)
    scores = metrics.per_class_scores(m, ("x", "y"))
    assert scores["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_roc_auc_by_hand_with_ties():
    # positives 0.9, 0.4; negatives 0.8, 0.4, 0.1 → pairs: (0.9 beats all 3) + (0.4: beats 0.1, ties 0.4)
    # AUC = (3 + 1 + 0.5) / 6 = 0.75
    fpr, tpr, auc = metrics.roc_curve(np.array([0.9, 0.8, 0.4, 0.4, 0.1]), np.array([1, 0, 1, 0, 0]))
    assert auc == pytest.approx(0.75)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_roc_agrees_with_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounded: many ties
    assert metrics.roc_curve(s, y == 1)[2] == pytest.approx(roc_auc_score(y, s))


def test_roc_undefined_when_class_absent():
    assert math.isnan(metrics.roc_curve(np.array([0.1, 0.2]), np.array([0, 0]))[2])


def test_confidence_analysis_by_hand():
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.2, 0.8], [0.97, 0.03]])
    y_true = np.array([0, 1, 1, 1])  # right, wrong, right, wrong
    out = metrics.confidence_analysis(y_true, probs, threshold=0.9)
    assert out["mean_confidence_correct"] == pytest.approx((0.95 + 0.8) / 2)
    assert out["mean_confidence_wrong"] == pytest.approx((0.6 + 0.97) / 2)
    assert out["fraction_above_threshold"] == pytest.approx(0.5)
    assert out["accuracy_above_threshold"] == pytest.approx(0.5)


def test_ece_by_hand():
    # Two bins used (10 bins): confidence 0.95 (4 samples, 3 right) and 0.55 (2 samples, 2 right).
    probs = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 2)
    y_true = np.array([0, 0, 0, 1, 0, 0])
    bins = metrics.reliability_bins(y_true, probs, n_bins=10)
    expected = 4 / 6 * abs(0.75 - 0.95) + 2 / 6 * abs(1.0 - 0.55)
    assert bins["ece"] == pytest.approx(expected)
    assert bins["counts"][9] == 4 and bins["counts"][5] == 2 and bins["counts"].sum() == 6


def test_perfectly_calibrated_predictions_have_small_ece():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    correct = rng.uniform(size=conf.size) < conf
    probs = np.stack([conf, 1 - conf], axis=1)
    y_true = np.where(correct, 0, 1)
    assert metrics.expected_calibration_error(y_true, probs) < 0.02


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_known_temperature(true_t):
    rng = np.random.default_rng(42)
    logits = rng.normal(0.0, 3.0, (6000, 4))
    probs = metrics.softmax(logits, true_t)  # labels drawn from softmax(logits / T)
    y = (rng.uniform(size=(len(probs), 1)) > probs.cumsum(axis=1)).sum(axis=1)
    fitted = metrics.fit_temperature(logits, y)
    assert fitted == pytest.approx(true_t, rel=0.06)
    assert metrics.negative_log_likelihood(logits, y, fitted) <= metrics.negative_log_likelihood(logits, y, 1.0) + 1e-9


def test_classification_report_is_consistent_and_json_ready():
    import json

    logits = _logits_for([0, 0, 1, 1, 2, 2], [0.9, 0.8, 0.7, 0.6, 0.9, 0.5])
    y_true = np.array([0, 0, 0, 1, 1, 2])
    report = metrics.classification_report(y_true, logits, NAMES, temperature=1.5)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["temperature"] == 1.5
    assert set(report["auc"]) == set(NAMES)
    json.dumps(report)  # no NumPy scalars or arrays left
