"""Background work for the GUI: a generator runs on a pool thread and yields one result at a time.

Modelled on superqt's ``GeneratorWorker`` (written here to avoid a dependency): the generator runs in
``QThreadPool``; each value it yields reaches the GUI thread through a queued signal; ``quit()`` asks it
to stop between yields (and cancels the core's ``CancelToken`` when one is given, so a long core
generator stops at its own next check). Every started worker is registered until its generator has
finished, so the window can ``await_workers()`` on close and tests can assert nothing is left running.

Signal order for one worker: ``started``, zero or more ``yielded``, then at most one ``errored``,
then always ``finished``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

# Started workers, kept alive until the GUI thread has handled their `finished` signal, so that the
# Python wrapper (and its QObject) is never deleted on the pool thread.
_alive: set[GeneratorWorker] = set()
_alive_lock = threading.Lock()


class WorkerSignals(QObject):
    started = Signal()
    yielded = Signal(object)
    errored = Signal(object)  # the exception instance
    finished = Signal()


class GeneratorWorker(QRunnable):
    """Runs ``func(*args, **kwargs)`` (a generator function) on a pool thread.

    ``cancel`` is any object with a ``cancel()`` method (e.g. ``app.core.runs.progress.CancelToken``);
    it is cancelled when ``quit()`` is called.
    """

    def __init__(
        self,
        func: Callable[..., Iterator[Any]],
        *args: Any,
        cancel: Any = None,
        name: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps it (in _alive) until the GUI thread saw `finished`
        self.signals = WorkerSignals()
        self.name = name or getattr(func, "__name__", "worker")
        self._func, self._args, self._kwargs = func, args, kwargs
        self._cancel = cancel
        self._quit = threading.Event()
        self._done = threading.Event()

    # --- called from the GUI thread -------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> GeneratorWorker:
        with _alive_lock:
            _alive.add(self)
        self.signals.finished.connect(self._release)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def quit(self) -> None:
        """Asks the generator to stop at its next yield (and cancels the core token)."""
        self._quit.set()
        if self._cancel is not None:
            self._cancel.cancel()

    def _release(self) -> None:  # GUI thread, after `finished`
        with _alive_lock:
            _alive.discard(self)

    @property
    def abort_requested(self) -> bool:
        return self._quit.is_set()

    @property
    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Blocks until the generator has finished; True when it has."""
        return self._done.wait(timeout_s)

    # --- runs on the pool thread -----------------------------------------------------------------
    def run(self) -> None:
        signals = self.signals
        try:
            signals.started.emit()
            generator = self._func(*self._args, **self._kwargs)
            try:
                for value in generator:
                    if self._quit.is_set():
                        break
                    signals.yielded.emit(value)
                    if self._quit.is_set():
                        break
            finally:
                close = getattr(generator, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # shown to the user by whoever listens to `errored`
            log.debug("worker %s failed", self.name, exc_info=True)
            signals.errored.emit(exc)
        finally:
            self._func, self._args, self._kwargs = None, (), {}  # drop references to the work's inputs
            self._done.set()
            signals.finished.emit()


def start_worker(
    func: Callable[..., Iterator[Any]],
    *args: Any,
    on_yield: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_finish: Callable[[], None] | None = None,
    cancel: Any = None,
    name: str = "",
    **kwargs: Any,
) -> GeneratorWorker:
    """Creates, connects and starts a worker (connect before start, so no signal is missed)."""
    worker = GeneratorWorker(func, *args, cancel=cancel, name=name, **kwargs)
    if on_yield is not None:
        worker.signals.yielded.connect(on_yield)
    if on_error is not None:
        worker.signals.errored.connect(on_error)
    if on_finish is not None:
        worker.signals.finished.connect(on_finish)
    return worker.start()


def connect_current(
    worker: GeneratorWorker,
    current: Callable[[], GeneratorWorker | None],
    *,
    on_yield: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_finish: Callable[[], None] | None = None,
) -> GeneratorWorker:
    """Connects ``worker``'s signals to slots that run only while ``current()`` is still this worker.

    For a job that a later worker supersedes (the user opened something else): a value, error or end
    from the superseded worker is dropped. Connect before ``start()``, so no signal is missed.
    """

    def while_current(slot: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            if current() is worker:
                slot(*args)

        return guarded

    for signal, slot in ((worker.signals.yielded, on_yield), (worker.signals.errored, on_error),
                         (worker.signals.finished, on_finish)):
        if slot is not None:
            signal.connect(while_current(slot))
    return worker


def running_workers() -> list[GeneratorWorker]:
    """Workers whose generator has not finished yet."""
    with _alive_lock:
        return [w for w in _alive if not w.is_done]


def await_workers(timeout_s: float = 10.0, *, quit: bool = True) -> bool:
    """Asks every worker to stop (when ``quit``) and waits for all of them; True when none is left."""
    deadline = time.monotonic() + timeout_s
    workers = running_workers()
    if quit:
        for worker in workers:
            worker.quit()
    for worker in workers:
        remaining = max(0.0, deadline - time.monotonic())
        if not worker.wait(remaining):
            log.warning("worker %s did not stop within %.1f s", worker.name, timeout_s)
            return False
    QThreadPool.globalInstance().waitForDone(int(max(0.0, deadline - time.monotonic()) * 1000))
    with _alive_lock:  # forget finished workers here, on the GUI thread, even if no event loop runs again
        _alive.difference_update([w for w in _alive if w.is_done])
    return True
