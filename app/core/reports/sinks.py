"""Where a batch run's results go as they come: the one pipeline the CLI and the GUI's batch job feed.

``run_batch`` yields ``BatchItem``s and ``SeriesSummary``s. A ``ResultPipeline`` hands each one to every
``ResultSink`` in order, counts it in a ``RunSummary``, and closes every sink with that summary when the
run ends (finished, cancelled, interrupted or failed), so what was written so far is never lost.

The sinks:
    CsvResultWriter, JsonResultWriter  app.core.reports.results_io (``for_model``)
    HeatmapFiles                       app.core.reports.heatmap_files
    PdfReportSink                      app.core.reports.batch_pdf
    AuditSink                          app.core.reports.audit
    ReleasePixels                      here; last, so the sinks before it still see the scan
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from app.core.reports.results_io import NOT_ASSESSED_STATUS, item_status
from app.core.runs.batch import BatchItem, SeriesSummary

Result = BatchItem | SeriesSummary


@dataclass
class RunSummary:
    """What a run did: every scan item is classified, not assessed or failed (the three add up)."""

    classified: int = 0
    not_assessed: int = 0
    failed: int = 0
    classes: Counter[str] = field(default_factory=Counter)  # classified scans per predicted class
    failures: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason) per failed scan ...
    failures_kept: int | None = None  # ... the first this many (None: all; an archive's bad files can be many)
    seconds: float = 0.0
    interrupted: bool = False

    @classmethod
    def of(cls, items: Iterable[Any]) -> RunSummary:
        summary = cls()
        for item in items:
            summary.count(item)
        return summary

    def count(self, item: Any) -> None:
        if not isinstance(item, BatchItem):  # series summaries are not scans
            return
        status = item_status(item) if item.prediction is not None else "error"
        predicted = item.prediction.predicted_class if item.prediction is not None else None
        self.count_outcome(status, predicted, item.path, item.error or "no result")

    def count_outcome(self, status: str, predicted_class: str | None, path: str | Path, error: str | None) -> None:
        """One scan by its ``status`` ("ok", "not_assessed", "error"), as a result row records it."""
        if status == NOT_ASSESSED_STATUS:
            self.not_assessed += 1
        elif status == "ok":
            self.classified += 1
            self.classes[predicted_class or ""] += 1
        else:
            self.failed += 1
            if self.failures_kept is None or len(self.failures) < self.failures_kept:
                self.failures.append((Path(path), error or "no result"))

    @property
    def scans(self) -> int:
        return self.classified + self.not_assessed + self.failed

    @property
    def read(self) -> int:
        """Scans that were read (classified or not assessed)."""
        return self.classified + self.not_assessed

    def counts_line(self, display_names: Mapping[str, str] | None = None, *, per_class: bool = False) -> str:
        """"12 scans: 9 classified, 2 not assessed, 1 failed"; ``per_class`` adds "(Glioma 5, No tumour 4)"
        after "classified", the most frequent first."""
        names = display_names or {}
        detail = ", ".join(f"{names.get(c, c)} {n}" for c, n in self.classes.most_common()) if per_class else ""
        return (f"{self.scans} scans: {self.classified} classified" + (f" ({detail})" if detail else "")
                + f", {self.not_assessed} not assessed, {self.failed} failed")

    def as_json(self) -> dict[str, Any]:
        """The ``summary`` block of the JSON results (keys as in format version 2)."""
        return {"ok": self.classified, "not_assessed": self.not_assessed, "error": self.failed,
                "classes": dict(self.classes), "seconds": round(self.seconds, 3), "interrupted": self.interrupted}


class ResultSink(Protocol):
    """Takes every result as it comes; ``close`` once, with the run's summary."""

    def write(self, item: Result) -> None: ...

    def close(self, summary: RunSummary) -> None: ...


class ResultPipeline:
    """Feeds each result to every sink, in order, and counts it; ``close`` closes them all.

    As a context manager it closes on the way out; a KeyboardInterrupt or a closed generator (the
    GUI's Cancel) marks the summary ``interrupted``. A sink that fails to close does not stop the
    others from closing; the first such error is raised after them."""

    def __init__(self, sinks: Iterable[ResultSink]) -> None:
        self.sinks = list(sinks)
        self.summary = RunSummary()
        self._started = time.perf_counter()
        self._closed = False

    def write(self, item: Result) -> None:
        for sink in self.sinks:
            sink.write(item)
        self.summary.count(item)

    def close(self, *, interrupted: bool = False) -> RunSummary:
        if self._closed:
            return self.summary
        self._closed = True
        self.summary.seconds = time.perf_counter() - self._started
        self.summary.interrupted = interrupted
        errors: list[BaseException] = []
        for sink in self.sinks:
            try:
                sink.close(self.summary)
            except Exception as error:  # noqa: BLE001 - the other sinks must still close; raised below
                errors.append(error)
        if errors:
            raise errors[0]
        return self.summary

    def __enter__(self) -> ResultPipeline:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(interrupted=kind is not None and issubclass(kind, (KeyboardInterrupt, GeneratorExit)))


class ReleasePixels:
    """Drops each scan's pixels once the sinks before it have seen them, so a run of thousands of
    scans holds none in memory. ``keep_thumbnail`` keeps a small JPEG and the scan's metadata on the
    item (what the GUI's table needs for a later batch PDF)."""

    def __init__(self, *, keep_thumbnail: bool = False) -> None:
        self.keep_thumbnail = keep_thumbnail

    def write(self, item: Result) -> None:
        if not isinstance(item, BatchItem) or item.scan is None:
            return
        if self.keep_thumbnail:
            from app.core.reports.batch_pdf import thumbnail_jpeg

            item.thumbnail_jpeg = thumbnail_jpeg(item.scan.display)
            item.metadata = item.scan.metadata
        item.scan = None

    def close(self, summary: RunSummary) -> None:
        pass
