"""Fixtures for the GUI tests: a window on the tiny test model, no blocking dialogs, and a guard
that fails any test leaving a worker thread running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.model_fixtures import tiny_model


@pytest.fixture(autouse=True)
def no_dangling_workers(qtbot):
    """Fails the test if a worker's generator is still running once the test (and its windows) end."""
    from PySide6.QtCore import QThreadPool

    from app.ui import workers

    yield
    # pytest-qt has closed the test's widgets by now (its teardown hook runs before fixtures'), so
    # a window's closeEvent had its chance to stop its workers; whatever still runs is a leak.
    left = workers.running_workers()
    names = [w.name for w in left]
    workers.await_workers(timeout_s=10.0)
    QThreadPool.globalInstance().waitForDone(5000)
    assert not left, f"worker(s) left running after the test: {names}"


@pytest.fixture
def dialogs(monkeypatch) -> list[tuple[str, str]]:
    """QMessageBox.warning/critical/information record (title, text) instead of blocking."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []

    def record(_parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(record))
    return shown


@pytest.fixture
def settings_store(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tiny_model: Path, settings_store, dialogs):
    """The main window with the tiny model loaded."""
    from app.ui.main_window import MainWindow

    win = MainWindow(settings_store=settings_store, model_path=tiny_model, load_model=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.model_ready, timeout=20000):
        win.reload_model()
    win.show()
    return win
