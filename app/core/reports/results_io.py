"""Batch results to CSV and JSON, written as they come.

The CSV has one row per scan and is flushed after every row, so a run that crashes or is
cancelled leaves a valid CSV of what was done. ``status`` is "ok", "not_assessed" or "error"; a scan
that is not assessed has no class, confidence, ``prob_<class>`` or P(tumour) (filtering on ``p_tumour``
never counts a photo as a tumour); the model's raw softmax of every classified scan is in the
``raw_prob_<class>`` columns (JSON: ``raw_model_class``, ``raw_probabilities``), for research only.
Flags follow the user's low-confidence threshold when one is given (``verdict.flags_at``). Numbers are rounded by ``app.core.reports.numbers``
so the CSV, the JSON and the PDF report agree digit for digit. Slice and frame numbers are
1-based, as a clinician counts them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.core.model import verdict
from app.core.model.identity import ModelInfo
from app.core.runs.batch import BatchItem, SeriesSummary
from app.core.reports.numbers import format_probability, round_probability

if TYPE_CHECKING:
    from app.core.reports.sinks import RunSummary

RESULTS_FORMAT = "brainlens-results"
RESULTS_FORMAT_VERSION = 2  # 2: not-assessed scans carry no figures; raw model output named raw_*
NOT_ASSESSED_STATUS = "not_assessed"


def csv_columns(class_names: Sequence[str]) -> list[str]:
    return [
        "path", "slice", "frame", "status", "error", "predicted_class", "confidence",
        *(f"prob_{name}" for name in class_names),
        "p_tumour", "flags", "image_sha256", "model_sha256", "plane",
        *(f"raw_prob_{name}" for name in class_names),
    ]


def item_status(item: BatchItem) -> str:
    """"ok", "not_assessed" (read, but not an axial brain MRI slice) or "error"."""
    p = item.prediction
    if item.status == "ok" and p is not None and not p.assessed:
        return NOT_ASSESSED_STATUS
    return item.status


def item_flags(item: BatchItem, threshold: float | None = None) -> tuple[str, ...]:
    """The prediction's flags (under ``threshold``; None: the card's), then the out-of-distribution reasons."""
    p = item.prediction
    return () if p is None else verdict.flags_at(p, threshold) + tuple(p.ood_reasons)


def _one_based(index: int | None) -> int | None:
    return None if index is None else index + 1


def csv_row(item: BatchItem, class_names: Sequence[str], model_sha256: str,
            threshold: float | None = None) -> dict[str, str]:
    p = item.prediction
    shown = verdict.reported_probabilities(p) if p is not None else None
    row = {
        "path": str(item.path),
        "slice": _text(_one_based(item.slice_index)),
        "frame": _text(_one_based(item.frame)),
        "status": item_status(item),
        "error": item.error or "",
        "predicted_class": _text(verdict.reported_class(p)) if p is not None else "",
        "confidence": format_probability(verdict.reported_confidence(p)) if p is not None else "",
        "p_tumour": format_probability(verdict.reported_p_tumour(p)) if p is not None else "",
        "flags": ";".join(item_flags(item, threshold)),
        "image_sha256": item.image_sha256,
        "model_sha256": model_sha256,
        "plane": item.plane or "",  # a volume's slice: the plane its slice number counts in
    }
    for name in class_names:
        row[f"prob_{name}"] = format_probability(shown.get(name)) if shown else ""
        row[f"raw_prob_{name}"] = format_probability(p.probability(name)) if p is not None else ""
    return row


def json_result(item: BatchItem, threshold: float | None = None) -> dict[str, Any]:
    p = item.prediction
    result: dict[str, Any] = {
        "path": str(item.path),
        "label": item.label,
        "slice": _one_based(item.slice_index),
        "series_length": item.series_length,
        "frame": _one_based(item.frame),
        "status": item_status(item),
        "error": item.error,
        "image_sha256": item.image_sha256,
    }
    if item.plane is not None:
        result["plane"] = item.plane
    if p is not None:
        shown = verdict.reported_probabilities(p)
        result.update(
            predicted_class=verdict.reported_class(p),
            assessed=p.assessed,
            confidence=round_probability(verdict.reported_confidence(p)),
            probabilities=None if shown is None else {n: round_probability(v) for n, v in shown.items()},
            p_tumour=round_probability(verdict.reported_p_tumour(p)),
            flags=list(verdict.flags_at(p, threshold)),
            ood_reasons=list(p.ood_reasons),
            raw_model_class=p.predicted_class,
            raw_probabilities={n: round_probability(v) for n, v in zip(p.class_names, p.probabilities)},
        )
    return result


def json_series(summary: SeriesSummary) -> dict[str, Any]:
    result = _json_series(summary)
    if getattr(summary, "kind", "series") == "volume":
        from app.core.reports.volume_report import volume_fields

        result.update(volume_fields(summary))
    return result


def _json_series(summary: SeriesSummary) -> dict[str, Any]:
    return {
        "path": str(summary.path),
        "label": summary.label,
        "slice_count": summary.slice_count,
        "classified": summary.classified,
        "not_assessed": summary.not_assessed,
        "failed": summary.failed,
        "top_slice": _one_based(summary.top_slice_index),
        "top_slice_label": summary.top_slice_label,
        "top_p_tumour": round_probability(summary.top_p_tumour),
        "majority_class": summary.majority_class,
        "class_counts": summary.class_counts,
    }


class CsvResultWriter:
    """One row per scan item (series summaries are not rows), flushed as written. ``append`` adds
    to an existing file of the same columns (its header is not written again)."""

    def __init__(self, path: str | Path, class_names: Sequence[str], model_sha256: str,
                 threshold: float | None = None, *, append: bool = False) -> None:
        self.path = Path(path)
        self.class_names = tuple(class_names)
        self.model_sha256 = model_sha256
        self.threshold = threshold
        has_header = append and self.path.exists() and self.path.stat().st_size > 0
        self._file: TextIO = open(self.path, "a" if append else "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=csv_columns(self.class_names))
        if not has_header:
            self._writer.writeheader()
        self._file.flush()
        self.rows = 0

    @classmethod
    def for_model(cls, path: str | Path, model: ModelInfo) -> CsvResultWriter:
        """The CSV of results from ``model`` under its user threshold (``ModelInfo.with_threshold``)."""
        return cls(path, model.class_names, model.sha256, model.user_threshold)

    def write(self, item: BatchItem | SeriesSummary) -> None:
        if isinstance(item, SeriesSummary):
            return
        self.write_rows([csv_row(item, self.class_names, self.model_sha256, self.threshold)])

    def write_rows(self, rows: Iterable[dict[str, str]]) -> None:
        """Rows already built by ``csv_row`` (e.g. on Ray workers), flushed together."""
        for row in rows:
            self._writer.writerow(row)
            self.rows += 1
        self._file.flush()

    def close(self, summary: RunSummary | None = None) -> None:
        """Closes the file (as a result sink: the CSV has no summary row)."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> CsvResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonResultWriter:
    """A JSON document streamed item by item: {"model", "results": [...], "series": [...], "summary"}."""

    def __init__(self, path: str | Path, model: dict[str, Any], threshold: float | None = None) -> None:
        self.path = Path(path)
        self.threshold = threshold
        self._file: TextIO = open(self.path, "w", encoding="utf-8")
        head = {"format": RESULTS_FORMAT, "format_version": RESULTS_FORMAT_VERSION, "model": model}
        self._file.write(json.dumps(head, indent=1)[:-2] + ',\n "results": [')
        self._series: list[dict[str, Any]] = []
        self._first = True
        self.counts = {"ok": 0, "error": 0}

    @classmethod
    def for_model(cls, path: str | Path, model: ModelInfo) -> JsonResultWriter:
        """The JSON results of ``model`` (its identity in the head) under its user threshold."""
        return cls(path, model.as_json(), model.user_threshold)

    def write(self, item: BatchItem | SeriesSummary) -> None:
        if isinstance(item, SeriesSummary):
            self._series.append(json_series(item))
            return
        self._file.write(("\n  " if self._first else ",\n  ") + json.dumps(json_result(item, self.threshold)))
        self._first = False
        status = item_status(item)
        self.counts[status] = self.counts.get(status, 0) + 1
        self._file.flush()

    def close(self, summary: RunSummary | None = None) -> None:
        """Ends the document; the run's ``summary`` fills its summary block (without one: the counts)."""
        if self._file.closed:
            return
        tail = {"series": self._series, "summary": summary.as_json() if summary is not None else dict(self.counts)}
        self._file.write("\n ],\n" + json.dumps(tail, indent=1)[2:])
        self._file.write("\n")
        self._file.close()

    def __enter__(self) -> JsonResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_csv(
    items: Iterable[BatchItem | SeriesSummary], path: str | Path, class_names: Sequence[str], model_sha256: str,
    threshold: float | None = None,
) -> int:
    """Writes every scan item; returns the number of rows."""
    with CsvResultWriter(path, class_names, model_sha256, threshold) as writer:
        for item in items:
            writer.write(item)
        return writer.rows


def write_json(items: Iterable[BatchItem | SeriesSummary], path: str | Path, model: dict[str, Any]) -> None:
    with JsonResultWriter(path, model) as writer:
        for item in items:
            writer.write(item)


def _text(value: Any) -> str:
    return "" if value is None else str(value)
