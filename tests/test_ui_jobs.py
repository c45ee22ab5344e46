"""The Qt-free job helpers the window runs on workers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app.ui.jobs import SliceQueue, classify_scans, tumour_summary


def test_slice_queue_starts_at_the_slice_on_screen_and_follows_the_user():
    queue = SliceQueue(10, first=5)
    assert queue.take(1) == [5]
    assert queue.take(2) == [4, 6]
    queue.prefer(0)
    assert queue.take(3) == [0, 1, 2]
    assert sorted(queue.take(100)) == [3, 7, 8, 9]
    assert len(queue) == 0


def test_classify_scans_gives_a_fast_first_result_then_batches():
    calls: list[int] = []

    class Classifier:
        def classify(self, scans):
            calls.append(len(scans))
            return [SimpleNamespace(value=s) for s in scans]

    scans = list(range(20))
    results = dict(classify_scans(Classifier(), scans, SliceQueue(20, first=10), batch_size=8))
    assert calls == [1, 8, 8, 3]
    assert sorted(results) == scans
    assert all(results[i].value == i for i in scans)


def test_tumour_summary_is_the_cores_top_slice_rule_and_skips_not_assessed_slices():
    from app.core.model.verdict import top_slice

    def p(p_tumour, assessed=True):
        return SimpleNamespace(p_tumour=p_tumour, confidence=0.5, assessed=assessed)

    predictions = {0: p(0.1), 1: p(0.99, assessed=False), 2: p(0.7), 3: p(0.7), 4: p(0.2)}
    assert tumour_summary(predictions) == (2, pytest.approx(0.7))  # ties: the first assessed slice
    assert tumour_summary(predictions) == top_slice(predictions) == top_slice(list(predictions.values()))
    assert tumour_summary({0: p(0.9, assessed=False)}) is None  # nothing assessed: no slice to jump to
    assert tumour_summary({}) is None
    assert np.isfinite(tumour_summary(predictions)[1])
