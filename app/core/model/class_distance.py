"""The embedding distance of the out-of-distribution guard: a class-conditional Mahalanobis distance.

The card's ``ood_reference`` (metric ``"class_mahalanobis"``, written by training.ood_reference from
the embeddings of the real training images) holds, for embeddings ``e`` of size K after the
``transform`` (``"sqrt"``: element-wise square root; the embedding is a mean of ReLU activations,
so non-negative and right-skewed):

* ``class_means`` [C, K]: the mean transformed embedding of each class;
* ``components`` [M, K] (orthonormal rows) and ``variances`` [M]: the leading eigenvectors and
  eigenvalues of the pooled within-class covariance (shrunk towards a multiple of the identity);
* ``residual_variance``: the mean of the remaining eigenvalues.

distance(e) = min over classes c of sqrt((sum_m (d . v_m)^2 / variance_m + |d - projection|^2 /
residual_variance) / K) with d = transform(e) - mean_c: the Mahalanobis distance to the nearest class,
with the covariance's small eigen-directions pooled into one (so the reference stays small).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

METRIC = "class_mahalanobis"


def transform(embedding: np.ndarray, kind: str) -> np.ndarray:
    if kind == "sqrt":
        return np.sqrt(np.maximum(embedding, 0.0))
    return embedding


def class_mahalanobis(embeddings: np.ndarray, reference: Mapping[str, Any]) -> np.ndarray | None:
    """Distances [N] of embeddings [N, K]; None when the reference does not fit them."""
    means = np.asarray(reference["class_means"], np.float64)
    components = np.asarray(reference["components"], np.float64)
    variances = np.asarray(reference["variances"], np.float64).ravel()
    residual = float(reference["residual_variance"])
    vectors = transform(np.atleast_2d(np.asarray(embeddings, np.float64)), reference.get("transform", "none"))
    if means.ndim != 2 or vectors.shape[1] != means.shape[1] or components.shape != (len(variances), means.shape[1]):
        return None
    size = means.shape[1]
    best = np.full(len(vectors), np.inf)
    for mean in means:
        d = vectors - mean
        projected = d @ components.T
        rest = np.maximum(np.sum(d * d, axis=1) - np.sum(projected * projected, axis=1), 0.0)
        squared = np.sum(projected * projected / variances, axis=1) + rest / residual
        best = np.minimum(best, np.sqrt(squared / size))
    return best
