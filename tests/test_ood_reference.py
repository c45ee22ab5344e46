"""The class-conditional Mahalanobis reference of the "not assessed" guard (training.ood_reference,
app.core.model.class_distance): fitted on per-class clusters, it passes their members and refuses
points far from every class, with the calibration quantile as its false-alarm rate."""

from __future__ import annotations

import json

import numpy as np

from app.core.model import class_distance, ood
from training import ood_reference


def _clusters(rng, n_per_class=400, size=64, centres=None):
    centres = rng.uniform(0.5, 3.0, (4, size)) if centres is None else centres
    labels = np.repeat(np.arange(4), n_per_class)
    points = np.abs(centres[labels] + rng.normal(0, 0.15, (len(labels), size)))
    return points, labels, centres


def test_members_pass_and_far_points_are_refused_at_the_calibration_rate():
    rng = np.random.default_rng(0)
    train, labels, centres = _clusters(rng)
    calib, _, _ = _clusters(np.random.default_rng(1), centres=centres)
    arrays = ood_reference.fit(train, labels, calib, components=16)
    reference = ood_reference.card_reference(arrays)
    threshold = reference["threshold"]
    calib_d = class_distance.class_mahalanobis(calib, reference)
    false_alarms = float(np.mean(calib_d > threshold))
    assert abs(false_alarms - (1 - ood_reference.FALSE_ALARM_QUANTILE)) < 0.01
    between = (centres[0] + centres[1]) / 2  # between two classes: far from both
    far = np.vstack([between, centres[0] * 3, np.zeros(64)])
    assert np.all(class_distance.class_mahalanobis(far, reference) > 2 * threshold)
    # the card's JSON form gives the app the same distances
    card_form = json.loads(json.dumps(reference))
    assert np.isclose(ood.embedding_distance(calib[0], card_form), calib_d[0], rtol=1e-4)
    reasons, distance = ood.assess(None, far[0], card_form)
    assert reasons == ("embedding_outlier",) and distance > threshold


def test_a_reference_of_another_size_gives_no_distance():
    rng = np.random.default_rng(2)
    train, labels, _ = _clusters(rng, 50, 8)
    reference = ood_reference.card_reference(ood_reference.fit(train, labels, train, components=4))
    assert ood.embedding_distance(np.ones(9), reference) is None
