"""The generator worker: signal order, errors, quit between yields, only the current worker's slots run,
await on shutdown."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from app.ui.workers import (  # noqa: E402
    GeneratorWorker,
    await_workers,
    connect_current,
    running_workers,
    start_worker,
)
from tests.ui_fixtures import no_dangling_workers  # noqa: E402


def counting(n: int, delay: float = 0.0):
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield i


def failing():
    yield 1
    raise ValueError("broken input")


def test_yields_in_order_then_finishes(qtbot):
    values: list[int] = []
    worker = GeneratorWorker(counting, 5)
    worker.signals.yielded.connect(values.append)
    with qtbot.waitSignals([worker.signals.started, worker.signals.finished], order="strict", timeout=5000):
        worker.start()
    assert values == [0, 1, 2, 3, 4]
    assert worker.is_done


def test_error_is_reported_then_finished(qtbot):
    errors: list[BaseException] = []
    worker = GeneratorWorker(failing)
    worker.signals.errored.connect(errors.append)
    with qtbot.waitSignals([worker.signals.errored, worker.signals.finished], order="strict", timeout=5000):
        worker.start()
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


def test_values_run_on_the_gui_thread(qtbot):
    threads: list[bool] = []
    worker = start_worker(counting, 2, on_yield=lambda _v: threads.append(threading.current_thread() is threading.main_thread()))
    qtbot.waitUntil(lambda: worker.is_done and len(threads) == 2, timeout=5000)
    assert threads == [True, True]


def test_quit_stops_between_yields_and_cancels_token(qtbot):
    class Token:
        cancelled = False

        def cancel(self):
            self.cancelled = True

    token = Token()
    values: list[int] = []
    worker = start_worker(counting, 10_000, 0.002, on_yield=values.append, cancel=token)
    qtbot.waitUntil(lambda: len(values) >= 3, timeout=5000)
    with qtbot.waitSignal(worker.signals.finished, timeout=5000):
        worker.quit()
    assert token.cancelled
    assert len(values) < 10_000


def test_only_the_current_worker_reaches_its_slots(qtbot):
    current: list[GeneratorWorker | None] = [None]
    seen: list[tuple[str, object]] = []
    ended: list[str] = []

    def start(name: str, func, *args) -> None:
        worker = GeneratorWorker(func, *args, name=name)
        connect_current(worker, lambda: current[0], on_yield=lambda value: seen.append((name, value)),
                        on_error=lambda error: seen.append((name, type(error).__name__)),
                        on_finish=lambda: seen.append((name, "finished")))
        worker.signals.finished.connect(lambda: ended.append(name))
        current[0] = worker.start()

    start("old", counting, 3)
    start("new", failing)  # supersedes "old" before the event loop delivers anything of it
    qtbot.waitUntil(lambda: sorted(ended) == ["new", "old"], timeout=5000)
    assert seen == [("new", 1), ("new", "ValueError"), ("new", "finished")]


def test_await_workers_stops_everything():
    workers = [start_worker(counting, 10_000, 0.002) for _ in range(2)]
    assert running_workers()
    assert await_workers(timeout_s=5.0)
    assert all(w.is_done for w in workers)
    assert not running_workers()
