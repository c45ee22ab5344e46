"""Warnings of the file readers (pydicom, Pillow, NumPy) during ``brainlens classify``, kept off the table.

A reader's ``UserWarning`` printed mid-table breaks the one-line-per-scan output that users pipe into
other tools. While a run lasts, Python warnings and the readers' loggers go to a log file instead; the
CLI then prints one line saying how many there were and where they are.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

READER_LOGGERS = ("py.warnings", "pydicom", "PIL")
LOG_NAME = "classify-warnings.log"


def warnings_log_path() -> Path:
    """``logs/`` in the user's BrainLens data folder (beside the audit log), else the temporary folder."""
    from app.core.reports.audit import data_dir

    for folder in (data_dir() / "logs", Path(tempfile.gettempdir()) / "brainlens-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder / LOG_NAME
        except OSError:
            continue
    return Path(tempfile.gettempdir()) / LOG_NAME


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record).strip())


@dataclass
class ReaderWarnings:
    """Context manager: collects warnings while open, writes them to ``path`` when closed."""

    path: Path | None = None
    messages: list[str] = field(default_factory=list)
    _saved: list[tuple[logging.Logger, bool, list[logging.Handler]]] = field(default_factory=list)
    _handler: logging.Handler | None = None
    _catch: warnings.catch_warnings | None = None

    def __enter__(self) -> ReaderWarnings:
        self._handler = _Collect(self.messages)
        self._handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("default")
        logging.captureWarnings(True)
        for name in READER_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.propagate, list(logger.handlers)))
            logger.handlers = [self._handler]
            logger.propagate = False
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for logger, propagate, handlers in self._saved:
            logger.handlers, logger.propagate = handlers, propagate
        self._saved.clear()
        logging.captureWarnings(False)
        if self._catch is not None:
            self._catch.__exit__(kind, error, trace)
        if self.messages:
            self.path = self.path or warnings_log_path()
            try:
                with open(self.path, "a", encoding="utf-8") as log:
                    log.write("".join(f"{line}\n" for line in self.messages))
            except OSError:
                self.path = None

    def summary(self) -> str | None:
        """One line for the end of the run, or None when nothing was said."""
        if not self.messages:
            return None
        where = f": see {self.path}" if self.path else ""
        return f"{len(self.messages)} warning(s) from the file readers{where} (first: {self.messages[0][:120]})"
