"""The GUI's side of the audit log (app.core.reports.audit): records written by worker threads, never the
GUI thread, and a failure to write told once, not a crash.

The core builds the records (and keeps patient identifiers out of them); this object only groups
the events of one classification batch into one append (one lock, one fsync), serialises appends
from several workers, and emits ``failed(message)`` the first time the log cannot be written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.core.reports.audit import AuditError, AuditEvent, append_events, classification_event, model_event

log = logging.getLogger(__name__)


class AuditTrail(QObject):
    """Thread-safe writer of audit events. ``failed`` fires once (queued to the GUI thread)."""

    failed = Signal(str)

    def __init__(self, log_path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = log_path  # None: app.core.reports.audit's default (BRAINLENS_DATA_DIR aware)
        self.model_info: Any = None  # ModelInfo of the classifier in use (set by the window)
        self.written = 0
        self._lock = threading.Lock()
        self._failed = False

    def write(self, events: Sequence[AuditEvent]) -> bool:
        """Appends ``events`` (any thread); False when the log could not be written."""
        if not events:
            return True
        with self._lock:
            try:
                self.written += len(append_events(list(events), self.log_path))
                return True
            except Exception as error:  # the log must never stop the work it records
                expected = isinstance(error, (AuditError, OSError))
                log.warning("audit log not written: %s", error, exc_info=not expected)
                reason, first, self._failed = str(error), not self._failed, True
        if first:
            self.failed.emit(f"The audit log could not be written ({reason}); results are shown "
                             "but not recorded.")
        return False

    def events(self, pairs: Iterable[tuple[str | None, Any]], action: str,
               model_info: Any = None) -> list[AuditEvent]:
        """One classification event per (image SHA-256, prediction) pair."""
        info = model_info if model_info is not None else self.model_info
        return [classification_event(prediction, file_sha256=sha or None, model_info=info, action=action)
                for sha, prediction in pairs if prediction is not None]

    def classified(self, pairs: Iterable[tuple[str | None, Any]], action: str, model_info: Any = None) -> bool:
        """Records the classifications in ``pairs`` as one append."""
        return self.write(self.events(pairs, action, model_info))

    def export(self, action: str, prediction: Any = None, file_sha256: str | None = None,
               model_info: Any = None) -> bool:
        """Records one export (report or DICOM object); the result is the prediction's, if any."""
        info = model_info if model_info is not None else self.model_info
        if prediction is not None:
            event = classification_event(prediction, file_sha256=file_sha256, model_info=info, action=action)
        else:
            event = model_event(action, info, file_sha256=file_sha256)
        return self.write([event])
