"""Classify many files as a stream: one result per scan, a summary per DICOM series.

``run_batch`` is a generator, so the CLI drives it with a terminal bar and the GUI on a worker
thread with a Cancel button; neither holds the folder in memory. While the model runs on one
batch, a small thread pool decodes and prepares (crop, resize) the next files; at most
``prefetch`` batches of decoded files wait at any time, so memory stays flat in the number of
files. Unreadable files become ``status="error"`` items with the loader's reason and the run
goes on.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import BrainLensError, ScanLoadError
from app.core.model.inference import Classifier, PreparedInput, Prediction, scan_modality, scan_plane
from app.core.model.verdict import NOT_ASSESSED, top_slice
from app.core.scans.loading import ScanSource, file_sha256, iter_sources, load_source
from app.core.runs.progress import CancelToken, Progress
from app.core.scans.scan import Scan, ScanMetadata

if TYPE_CHECKING:
    from app.core.runs.volumes import VolumeProgress


@dataclass(eq=False)
class BatchItem:
    """The result for one scan (one image, one frame, or one slice of a series)."""

    path: Path
    label: str
    status: str  # "ok" or "error"
    error: str | None = None
    frame: int | None = None  # 0-based
    slice_index: int | None = None  # 0-based, in anatomical order
    series_length: int | None = None
    scan: Scan | None = field(default=None, repr=False)  # the caller may drop it
    prediction: Prediction | None = field(default=None, repr=False)
    image_sha256: str = ""
    series_uid: str | None = field(default=None, repr=False)
    kind: str = "scan"
    patient: str | None = field(default=None, repr=False)  # DICOM patient name (else ID); an identifier
    plane: str | None = None  # a volume's slice: the plane it was cut in (slice_index counts in it)
    # kept when the pixels are released (app.core.reports.sinks.ReleasePixels): for a later batch PDF
    thumbnail_jpeg: bytes | None = field(default=None, repr=False)
    metadata: ScanMetadata | None = field(default=None, repr=False)  # the PDF's patient header; identifiers

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(eq=False)
class SeriesSummary:
    """Yielded after the last slice of a DICOM series."""

    path: Path  # the series' first file
    label: str
    slice_count: int  # scans of the series that were tried (slices, or frames of multi-frame files)
    classified: int  # slices assessed and classified (slice_count = classified + not_assessed + failed)
    failed: int
    top_slice_index: int | None  # 0-based index of the assessed slice with the highest P(tumour)
    top_slice_label: str | None
    top_p_tumour: float | None
    majority_class: str | None  # among assessed slices; "not assessed" when none was, None when none was read
    class_counts: dict[str, int]
    series_uid: str | None = field(default=None, repr=False)
    kind: str = "series"
    not_assessed: int = 0  # slices read but not an axial brain MRI slice
    patient: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ScanFile:
    """One file of one source, in plain values: what a decoding thread or a Ray worker loads."""

    path: Path
    kind: str  # the source's kind: "image", "dicom", "series", "volume" or "unknown"
    index: int = 0  # 0-based position in its series
    count: int = 1  # files in its source
    series_uid: str | None = None
    description: str | None = None
    volume_paths: tuple[Path, ...] = ()  # a volume is loaded whole: all its files (a NIfTI volume: the one)


def source_files(source: ScanSource) -> list[ScanFile]:
    """The files of a source, each knowing its place in the series; a volume is one unit of work."""
    if source.kind == "volume":
        return [ScanFile(source.path, "volume", 0, 1, source.series_uid, source.description, source.paths)]
    count = len(source.paths)
    return [ScanFile(path, source.kind, i, count, source.series_uid, source.description)
            for i, path in enumerate(source.paths)]


@dataclass
class ScanEntry:
    """One scan of a decoded file: its result so far and its model input (None when it failed)."""

    item: BatchItem
    prepared: PreparedInput | None
    last_of_file: bool


@dataclass
class _Unit:
    file: ScanFile
    source_id: int


@dataclass
class _SeriesState:
    source: ScanSource
    remaining: int
    items: list[tuple[int | None, str, Prediction | None]] = field(default_factory=list)
    patient: str | None = None
    volume: VolumeProgress | None = None  # for a volume source


def run_batch(
    paths: str | Path | Iterable[str | Path],
    classifier: Classifier,
    *,
    recursive: bool = True,
    crop: bool | None = None,
    batch_size: int = 8,
    cancel: CancelToken | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    prefetch: int = 2,
    workers: int | None = None,
    keep_scans: bool = True,
    plane: str = "axial",
    volume_heatmaps: bool = False,
) -> Iterator[BatchItem | SeriesSummary]:
    """Classify every scan under ``paths`` (files and folders), yielding results in order.

    ``crop`` None follows the model card. Progress counts files (a volume counts once). After
    ``cancel.cancel()`` the generator stops before the next batch; everything already yielded stands.
    ``workers`` (decoding threads) defaults to ``decode_workers(classifier)``. Volumes are classified
    slice by slice in the planes ``app.core.runs.volumes.volume_planes(card, plane)`` gives; their
    ``VolumeSummary`` carries the heatmap volume when ``volume_heatmaps``.
    """
    from app.core.runs.volumes import VolumeProgress, volume_planes

    batch_size = max(1, int(batch_size))
    planes = volume_planes(classifier.card, plane)
    sources = list(iter_sources(paths, recursive=recursive))
    units = [_Unit(f, i) for i, s in enumerate(sources) for f in source_files(s)]
    total, done = len(units), 0
    series = {i: _SeriesState(s, len(s.paths)) for i, s in enumerate(sources) if s.kind == "series"}
    series.update({i: _SeriesState(s, 1, volume=VolumeProgress(planes, volume_heatmaps))
                   for i, s in enumerate(sources) if s.kind == "volume"})
    report = on_progress or (lambda progress: None)
    report(Progress(total, 0, "starting"))
    cancelled = (lambda: cancel is not None and cancel.cancelled)

    pending: deque[tuple[_Unit, Future]] = deque()
    buffer: list[tuple[_Unit, ScanEntry]] = []
    todo = iter(units)
    waiting: _Unit | None = None
    prefetch = max(1, prefetch)
    max_in_flight = prefetch * batch_size

    def flush() -> Iterator[BatchItem | SeriesSummary]:
        nonlocal done
        predict_entries([entry for _, entry in buffer], classifier)
        for unit, entry in buffer:
            item = entry.item
            scan = item.scan
            if not keep_scans:
                item.scan = None
            yield item
            state = series.get(unit.source_id)
            if state is not None:
                state.items.append((item.slice_index, item.label, item.prediction))
                state.patient = state.patient or item.patient
                if state.volume is not None:
                    state.volume.add(scan, item.plane, item.slice_index, item.label, item.prediction)
            if entry.last_of_file:
                done += 1
                report(Progress(total, done, item.label))
                if state is not None:
                    state.remaining -= 1
                    if state.remaining == 0:
                        yield _summarise(state)
                        del series[unit.source_id]
        buffer.clear()

    workers = decode_workers(classifier) if workers is None else max(1, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="brainlens-load") as pool:
        try:
            while True:
                while len(pending) < max_in_flight:
                    unit = waiting or next(todo, None)
                    waiting = None
                    if unit is None:
                        break
                    if unit.file.kind == "volume" and sum(u.file.kind == "volume" for u, _ in pending) >= prefetch:
                        waiting = unit  # a volume is many slices: at most ``prefetch`` of them decoded ahead
                        break
                    pending.append((unit, pool.submit(load_entries, unit.file, classifier, crop, planes)))
                if not pending or cancelled():
                    break
                unit, future = pending.popleft()
                buffer.extend((unit, entry) for entry in future.result())
                if sum(e.prepared is not None for _, e in buffer) >= batch_size or not pending:
                    if cancelled():
                        break
                    yield from flush()
        finally:
            for _, future in pending:
                future.cancel()
    if buffer and not cancelled():
        yield from flush()


def decode_workers(classifier: Classifier) -> int:
    """Decoding threads: one on the CPU, where it keeps well ahead of the model (a 512x512 file
    decodes and resizes in ~30 ms, VGG16 takes ~0.5 s) and a second would take cycles from the
    model's own threads; on a GPU decoding is the bottleneck, so up to four."""
    import os

    if classifier.providers and classifier.providers[0] != "CPUExecutionProvider":
        return max(1, min(4, (os.cpu_count() or 2) - 1))
    return 1


def load_entries(file: ScanFile, classifier: Classifier, crop: bool | None,
                 planes: tuple[str, ...] = ("axial",)) -> list[ScanEntry]:
    """Decode one file and prepare its scans for the model (any thread, any process): the per-file
    step the local engine and the Ray engine share. Never raises: a file that fails becomes one
    ``status="error"`` entry with the loader's reason."""
    try:
        loaded = _load_file(file, classifier, crop, planes)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row with a reason
        message = str(exc) if isinstance(exc, BrainLensError) else (
            f"This file could not be processed because of an unexpected problem ({type(exc).__name__})."
        )
        series = file.kind == "series"
        item = BatchItem(
            path=file.path,
            label=_error_label(file),
            status="error",
            error=message or ScanLoadError.default_message,
            slice_index=file.index if series else None,
            series_length=file.count if series else None,
            image_sha256=_sha256_or_empty(file.path),
            series_uid=file.series_uid,
        )
        return [ScanEntry(item, None, True)]
    if not loaded:  # a file with no frames: nothing to classify, but it must not vanish
        path = file.path
        item = BatchItem(path, path.name, "error", ScanLoadError.default_message, image_sha256=_sha256_or_empty(path))
        return [ScanEntry(item, None, True)]
    entries = []
    for n, (scan, prepared) in enumerate(loaded):
        item = BatchItem(
            path=file.path,
            label=scan.label,
            status="ok",
            frame=scan.frame,
            slice_index=scan.slice_index,
            series_length=scan.series_length,
            scan=scan,
            image_sha256=scan.file_sha256,
            series_uid=file.series_uid,
            patient=scan_patient(scan),
            plane=scan.plane,
        )
        entries.append(ScanEntry(item, prepared, n == len(loaded) - 1))
    return entries


def predict_entries(entries: Sequence[ScanEntry], classifier: Classifier) -> None:
    """One batched model run over the entries that decoded, filling in their predictions; a model
    failure marks those entries as errors and the run goes on. The model inputs are dropped."""
    ready = [entry for entry in entries if entry.prepared is not None]
    inputs = [entry.prepared for entry in entries if entry.prepared is not None]
    try:
        predictions = classifier.run(inputs)
    except Exception as exc:  # noqa: BLE001 - a model failure marks this batch, the run goes on
        failure = f"The model failed on this image ({type(exc).__name__}: {exc})."
        for entry in ready:
            entry.item.status, entry.item.error = "error", failure
    else:
        for entry, prediction in zip(ready, predictions):
            entry.item.prediction = prediction
    for entry in ready:
        entry.prepared = None


def _load_file(file: ScanFile, classifier: Classifier, crop: bool | None, planes: tuple[str, ...]):
    """Decode one file (or a whole volume, in ``planes``) and prepare its scans for the model."""
    if file.kind == "volume":
        from app.core.runs.volumes import classifiable_slices
        from app.core.scans.loading import load_volume

        volume = load_volume(ScanSource("volume", file.volume_paths, file.series_uid, file.description))
        return [(scan, classifier.prepare(scan.display, crop=crop, plane=scan_plane(scan)))
                for scan in classifiable_slices(volume, planes)]
    kind = "dicom" if file.kind == "series" else file.kind
    scans = load_source(ScanSource(kind, (file.path,), file.series_uid, file.description))
    if file.kind == "series":
        scans = [replace(s, slice_index=file.index, series_length=file.count) for s in scans]
    return [(scan, classifier.prepare(scan.display, crop=crop, plane=scan_plane(scan),
                                      modality_code=scan_modality(scan))) for scan in scans]


def _error_label(file: ScanFile) -> str:
    if file.kind == "series":
        return f"{file.path.name} — slice {file.index + 1}/{file.count}"
    return file.path.name


def _sha256_or_empty(path: Path) -> str:
    try:
        return file_sha256(path)
    except ScanLoadError:
        return ""


def _summarise(state: _SeriesState) -> SeriesSummary:
    if state.volume is not None:
        from app.core.runs.volumes import summarise_volume

        failed = sum(p is None for _, _, p in state.items)
        return summarise_volume(state.volume, state.source.path, state.source.label, failed, state.source.series_uid)
    predictions = [(i, label, p) for i, label, p in state.items if p is not None]
    assessed = [p.predicted_class for _, _, p in predictions if p.assessed]
    counts = Counter(assessed)
    majority = None
    if predictions:
        majority = counts.most_common(1)[0][0] if counts else NOT_ASSESSED
    # the one top-slice rule (verdict.top_slice), keyed by position among this series' items
    top = top_slice([p for _, _, p in state.items])
    top_index = top_label = top_p_tumour = None
    if top is not None:
        top_index, top_label, top_prediction = state.items[top[0]]
        top_p_tumour = top[1] if top_prediction is not None and top_prediction.p_tumour is not None else None
    source = state.source
    return SeriesSummary(
        path=source.path,
        label=source.label,
        slice_count=len(state.items),
        classified=len(assessed),
        failed=len(state.items) - len(predictions),
        top_slice_index=top_index,
        top_slice_label=top_label,
        top_p_tumour=top_p_tumour,
        majority_class=majority,
        class_counts=dict(counts),
        series_uid=source.series_uid,
        not_assessed=len(predictions) - len(assessed),
        patient=state.patient,
    )


def scan_patient(scan: Scan) -> str | None:
    metadata = scan.metadata
    return (metadata.patient_name or metadata.patient_id or None) if metadata is not None else None
