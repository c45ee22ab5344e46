"""Evaluation numbers as small pure NumPy functions (no TensorFlow), each testable by hand.

Inputs are integer labels ``y_true`` [N] and either logits or probabilities [N, C].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def per_class_scores(matrix: np.ndarray, class_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(actual[i]),
        }
        for i, name in enumerate(class_names)
    }


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One ROC curve (false-positive rate, true-positive rate) and its area (trapezoids, ties
    handled as one step). AUC is NaN when one of the two groups is empty."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    last_of_tie = np.r_[np.diff(s) != 0, True]
    tps = np.cumsum(p)[last_of_tie]
    fps = np.cumsum(~p)[last_of_tie]
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def one_vs_rest_roc(
    y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """ROC curve and AUC of each class against the rest."""
    y_true = np.asarray(y_true, int)
    curves = {}
    for i, name in enumerate(class_names):
        fpr, tpr, auc = roc_curve(probabilities[:, i], y_true == i)
        curves[name] = {"fpr": fpr, "tpr": tpr, "auc": auc}
    return curves


def confidence_analysis(y_true: np.ndarray, probabilities: np.ndarray, threshold: float = 0.9) -> dict:
    """The seeds' analysis: mean confidence of right and wrong answers, accuracy above a threshold."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true, int)
    above = confidence > threshold

    def mean(values: np.ndarray) -> float | None:
        return float(values.mean()) if values.size else None

    return {
        "mean_confidence_correct": mean(confidence[correct]),
        "mean_confidence_wrong": mean(confidence[~correct]),
        "threshold": threshold,
        "fraction_above_threshold": float(above.mean()) if above.size else 0.0,
        "accuracy_above_threshold": mean(correct[above].astype(np.float64)),
    }


def reliability_bins(y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 15) -> dict:
    """Equal-width confidence bins: per-bin count, mean confidence and accuracy, and the expected
    calibration error ECE = sum_b (n_b / N) |accuracy_b - confidence_b| (Guo et al., 2017)."""
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == np.asarray(y_true, int)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin b holds confidences in (edges[b], edges[b+1]]; confidence 0 can't occur for a max-softmax.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(index, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / np.maximum(counts, 1), np.nan)
        accuracy = np.where(counts > 0, acc_sum / np.maximum(counts, 1), np.nan)
    total = max(int(counts.sum()), 1)
    gaps = np.abs(np.nan_to_num(accuracy) - np.nan_to_num(mean_conf))
    ece = float((counts / total * gaps).sum())
    return {"edges": edges, "counts": counts, "confidence": mean_conf, "accuracy": accuracy, "ece": ece}


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 15) -> float:
    return reliability_bins(y_true, probabilities, n_bins)["ece"]


def negative_log_likelihood(logits: np.ndarray, y_true: np.ndarray, temperature: float = 1.0) -> float:
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float((log_norm - z[np.arange(len(z)), np.asarray(y_true, int)]).mean())


def fit_temperature(logits: np.ndarray, y_true: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (Guo et al., 2017).

    Searched over log T (the NLL is smooth and unimodal there) with a bounded scalar minimiser.
    """
    from scipy.optimize import minimize_scalar

    if len(logits) == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, y_true, float(np.exp(log_t))),
        bounds=(float(np.log(bounds[0])), float(np.log(bounds[1]))),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def classification_report(
    y_true: np.ndarray, logits: np.ndarray, class_names: Sequence[str], temperature: float = 1.0
) -> dict[str, Any]:
    """Everything metrics.json reports for one split (JSON-ready; ROC curves kept out)."""
    y_true = np.asarray(y_true, int)
    probs = softmax(logits)
    pred = probs.argmax(axis=1)
    matrix = confusion_matrix(y_true, pred, len(class_names))
    roc = one_vs_rest_roc(y_true, probs, class_names)
    aucs = {name: (None if np.isnan(c["auc"]) else c["auc"]) for name, c in roc.items()}
    defined = [a for a in aucs.values() if a is not None]
    scaled = softmax(logits, temperature)
    per_class = per_class_scores(matrix, class_names)
    return {
        "n": int(len(y_true)),
        "accuracy": float((pred == y_true).mean()) if len(y_true) else None,
        "per_class": per_class,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "confusion_matrix": matrix.tolist(),
        "auc": aucs,
        "macro_auc": float(np.mean(defined)) if defined else None,
        "confidence": confidence_analysis(y_true, probs),
        "ece": expected_calibration_error(y_true, probs),
        "nll": negative_log_likelihood(logits, y_true) if len(y_true) else None,
        "temperature": float(temperature),
        "ece_after_temperature": expected_calibration_error(y_true, scaled),
        "nll_after_temperature": negative_log_likelihood(logits, y_true, temperature) if len(y_true) else None,
    }
