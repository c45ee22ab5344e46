"""The out-of-distribution reference from real training images (app/core/model/class_distance.py).

Fitted on the embeddings (block5_conv3, global average) of the training images, per class; the
threshold is the ``FALSE_ALARM_QUANTILE`` quantile of the calibration images' distances, so about
2 % of real calibration scans are refused.
"""

from __future__ import annotations

import numpy as np

from app.core.model.class_distance import METRIC, class_mahalanobis, transform

COMPONENTS = 48
SHRINKAGE = 0.1
FALSE_ALARM_QUANTILE = 0.985
TRANSFORM = "sqrt"


def fit(train_embeddings: np.ndarray, train_labels: np.ndarray, calib_embeddings: np.ndarray,
        components: int = COMPONENTS) -> dict[str, np.ndarray]:
    """Arrays of the reference (class_means, components, variances, residual_variance, threshold)."""
    vectors = transform(np.asarray(train_embeddings, np.float64), TRANSFORM)
    labels = np.asarray(train_labels)
    classes = np.unique(labels)
    means = np.stack([vectors[labels == c].mean(axis=0) for c in classes])
    centred = vectors - means[np.searchsorted(classes, labels)]
    covariance = centred.T @ centred / max(len(vectors) - len(classes), 1)
    covariance = (1 - SHRINKAGE) * covariance + SHRINKAGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    values, vecs = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    values, vecs = values[order], vecs[:, order]
    arrays = {
        "class_means": means.astype(np.float32),
        "components": vecs[:, :components].T.astype(np.float32),
        "variances": values[:components].astype(np.float32),
        "residual_variance": np.array([values[components:].mean()], np.float32),
    }
    distances = class_mahalanobis(calib_embeddings, card_reference(arrays, threshold=0.0))
    arrays["threshold"] = np.array([np.quantile(distances, FALSE_ALARM_QUANTILE)], np.float32)
    return arrays


def card_reference(arrays: dict[str, np.ndarray], *, threshold: float | None = None, source: str = "") -> dict:
    """The card's ``ood_reference`` dict from the committed arrays (JSON-ready lists)."""
    def rounded(values: np.ndarray) -> list:
        return np.round(np.asarray(values, np.float64), 6).tolist()

    return {
        "metric": METRIC,
        "transform": TRANSFORM,
        "class_means": rounded(arrays["class_means"]),
        "components": rounded(arrays["components"]),
        "variances": rounded(arrays["variances"]),
        "residual_variance": float(np.asarray(arrays["residual_variance"]).ravel()[0]),
        "threshold": float(threshold if threshold is not None else np.asarray(arrays["threshold"]).ravel()[0]),
        "source": source,
        "rule": "not assessed when the class-conditional Mahalanobis distance of the embedding to the "
        "nearest class of the training images exceeds the threshold (the 98.5 % quantile of the "
        "calibration images' distances)",
    }
