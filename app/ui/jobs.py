"""The generator functions the GUI runs on worker threads. No Qt here: each one calls the core and
yields plain values, so the window only forwards them to widgets.

    load_model      → Classifier
    inspect_paths   → the first two sources found (one source opens in the viewer, more → batch)
    load_target     → list[Scan] of a file, a ScanSource or a folder holding one series
    classify_scans  → (index, Prediction) pairs, the slice on screen first (``SliceQueue``)
    batch_job       → Progress and BatchItem values from app.core.runs.batch.run_batch
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any


def load_model(model_path: Path | None, device: str, warm_up: bool = True) -> Iterator[Any]:
    """Loads the classifier and runs it once on a blank image, so that ONNX Runtime's first-run
    set-up is not paid by the user's first scan."""
    import numpy as np

    from app.core.model.inference import Classifier

    classifier = Classifier(model_path, device=device)
    if warm_up:
        spec = classifier.card.input
        classifier.predict([np.zeros((spec.height, spec.width), dtype=np.uint8)])
    yield classifier


def inspect_paths(paths: Sequence[Path]) -> Iterator[list[Any]]:
    """Yields the first two ``ScanSource``s under ``paths`` (header-only reads, stops early)."""
    from app.core.scans.loading import iter_sources

    yield list(islice(iter_sources([Path(p) for p in paths], recursive=True), 2))


@dataclass(frozen=True)
class SeriesOf:
    """The DICOM series a file belongs to (found among the files of its folder)."""

    path: Path


DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")


def opening_target(path: Path) -> Path | SeriesOf:
    """What opening one file shows: a DICOM file with its whole series (as RadiAnt and Weasis do), a
    plain image alone. Decided from the name and the first bytes only (the series is found later)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return path
    is_dicom = path.suffix.lower() in DICOM_SUFFIXES or head[128:132] == b"DICM"
    return SeriesOf(path) if is_dicom and len(head) == 132 else path


def target_name(target: Any) -> str:
    """The file (or series) name of what ``load_target`` was asked to open, for messages."""
    if isinstance(target, (str, Path)):
        return Path(target).name
    if isinstance(target, SeriesOf):
        return Path(target.path).name
    return str(getattr(target, "label", None) or Path(getattr(target, "path", "scan")).name)


def load_target(target: Any) -> Iterator[tuple[list[Any], list[Any]]]:
    """A path (file), a ``ScanSource`` or a ``SeriesOf`` → (its scans, ``LoadFailure``s of bad slices)."""
    from app.core.scans import loading

    if isinstance(target, SeriesOf):
        wanted = Path(target.path).resolve()
        found = [s for s in loading.iter_sources([wanted.parent], recursive=False)
                 if wanted in {Path(p).resolve() for p in s.paths}]
        target = found[0] if found else wanted
    if isinstance(target, (str, Path)):
        yield loading.load_scans(Path(target)), []
    else:
        failures: list[Any] = []
        scans = loading.load_source(target, failures=failures)
        yield scans, failures


class SliceQueue:
    """Which slices are left to classify, the one on screen (and its neighbours) first.

    Thread-safe: the GUI thread calls ``prefer(index)`` when the user moves through the series,
    the worker calls ``take(n)``.
    """

    def __init__(self, count: int, first: int = 0) -> None:
        self._lock = threading.Lock()
        self._left = set(range(count))
        self._focus = first

    def prefer(self, index: int) -> None:
        with self._lock:
            self._focus = index

    def take(self, n: int) -> list[int]:
        with self._lock:
            chosen = sorted(self._left, key=lambda i: (abs(i - self._focus), i))[: max(1, n)]
            self._left.difference_update(chosen)
            return chosen

    def __len__(self) -> int:
        with self._lock:
            return len(self._left)


def classify_scans(classifier: Any, scans: Sequence[Any], queue: SliceQueue, batch_size: int = 8,
                   audit: Any = None, model_info: Any = None) -> Iterator[tuple[int, Any]]:
    """(index, Prediction) for every scan; the first batch is one scan, for a fast first result.

    ``audit`` (an ``AuditTrail``) records each group of classifications, here on the worker thread."""
    from app.core.reports.audit import VIEW_CLASSIFY

    size = 1
    while len(queue):
        indices = queue.take(size)
        predictions = classifier.classify([scans[i] for i in indices])
        if audit is not None:  # before yielding: a worker told to stop is closed at its next yield
            audit.classified([(getattr(scans[i], "file_sha256", None), p) for i, p in zip(indices, predictions)],
                             VIEW_CLASSIFY, model_info)
        yield from zip(indices, predictions)
        size = batch_size


def batch_job(paths: Sequence[Path], classifier: Any, cancel: Any, audit: Any = None,
              model_info: Any = None) -> Iterator[Any]:
    """``run_batch`` through the core's result pipeline, its progress reports interleaved in the yielded
    stream (same thread); the one pipeline ``brainlens classify`` feeds (``app.core.reports.sinks``).

    ``audit`` (an ``AuditTrail``) gets the classifications in groups, on this worker thread; a cancelled
    batch still records what it classified. The table keeps results, not pixels (thousands of scans
    must not stay in memory): each item keeps a small JPEG thumbnail and its metadata for the batch PDF."""
    from app.core.reports.audit import BATCH_CLASSIFY, AuditSink
    from app.core.reports.sinks import ReleasePixels, ResultPipeline, ResultSink
    from app.core.runs.batch import run_batch

    sinks: list[ResultSink] = []
    if audit is not None:
        sinks.append(AuditSink(model_info, action=BATCH_CLASSIFY, append=audit.write))
    sinks.append(ReleasePixels(keep_thumbnail=True))
    progress: deque[Any] = deque()
    with ResultPipeline(sinks) as pipeline:
        for item in run_batch([Path(p) for p in paths], classifier, recursive=True, cancel=cancel,
                              on_progress=progress.append, keep_scans=True):
            pipeline.write(item)  # before yielding: a worker told to stop is closed at its next yield
            while progress:
                yield progress.popleft()
            yield item
        while progress:
            yield progress.popleft()


def tumour_summary(predictions: dict[int, Any]) -> tuple[int, float] | None:
    """(index, P(tumour)) of the assessed slice most likely to show a tumour so far, or None: the core's
    one rule (``app.core.model.verdict.top_slice``), as the batch summary and the series PDF use it."""
    from app.core.model.verdict import top_slice

    return top_slice(predictions)
