"""Qt-free progress and cancellation for long work (batch classification, exports).

The core reports progress as plain ``Progress`` values through a callback and checks a
``CancelToken`` between units of work; the GUI binds them to a progress bar and a Cancel
button, the CLI to a terminal bar and Ctrl-C. Neither side knows the other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


class CancelToken:
    """A thread-safe flag: the GUI thread sets it, the worker polls it between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units finished (``total`` None when not known yet)."""

    total: int | None
    done: int
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)
