"""The Qt binding itself: PySide6 6.12.0 on Python 3.11 drops a reference to ``True`` on every
``Signal.emit()`` and to ``None`` on every ``QComboBox.currentData()`` that returns None, so a
session aborts after a few thousand signals ("Fatal Python error: bool_dealloc"). This test fails
on such a build, before users find out."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QObject, Signal  # noqa: E402
from PySide6.QtWidgets import QComboBox  # noqa: E402

from tests.ui_fixtures import no_dangling_workers  # noqa: E402


class Emitter(QObject):
    value = Signal(object)


def test_signal_emit_keeps_reference_counts(qtbot):
    emitter = Emitter()
    received: list[object] = []
    emitter.value.connect(received.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(500):
        emitter.value.emit(1)
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert len(received) == 500
    assert after[0] - before[0] > -50 and after[1] - before[1] > -50, (
        f"this PySide6 build loses references on emit (True {after[0] - before[0]}); use another version"
    )


def test_combo_none_data_keeps_reference_counts(qtbot):
    combo = QComboBox()
    qtbot.addWidget(combo)
    combo.addItem("none", None)
    before = sys.getrefcount(None)
    for _ in range(500):
        combo.currentData()
    assert sys.getrefcount(None) - before > -50
