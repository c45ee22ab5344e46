"""The batch PDF: a summary (counts per class, flags, failures, series) and a table of every scan.

Batch results stream (``app.core.runs.batch.run_batch`` yields one item at a time and the CLI drops
each scan after use), so ``BatchReport`` keeps only what the report needs per item: the numbers,
the flags and a small JPEG thumbnail. Feed it items as they come (``add``), then ``write``.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, SimpleDocTemplate, Spacer, Table, TableStyle

from app.core.model import verdict
from app.core.reports.charts import probability_chart
from app.core.reports.layout import (
    CONTENT_WIDTH,
    MARGIN,
    MUTED,
    PAGE,
    PANEL,
    RULE,
    WARN,
    ModelInfo,
    NumberedCanvas,
    disclaimer_block,
    model_block,
    page_decorator,
    para,
    utc_now,
)
from app.core.reports.numbers import format_percent
from app.core.reports.patient_header import StudyIdentities

THUMB_PX = 112
THUMB_SIZE = 13 * mm


@dataclass
class _Row:
    number: int
    name: str
    status: str
    error: str | None = None
    predicted_class: str | None = None
    assessed: bool = True
    confidence: float | None = None
    p_tumour: float | None = None
    flags: tuple[str, ...] = ()
    thumbnail: bytes | None = None


@dataclass
class _SeriesRow:
    name: str
    slices: int | None
    majority: str | None
    top_slice: str | None
    top_p_tumour: float | None


def _is_series_summary(item: Any) -> bool:
    return type(item).__name__ == "SeriesSummary" or hasattr(item, "slice_count")


def thumbnail_jpeg(display: np.ndarray, px: int = THUMB_PX) -> bytes:
    """A scan's display image as a JPEG of at most ``px`` × ``px`` (a few kB)."""
    img = PILImage.fromarray(np.asarray(display, dtype=np.uint8))
    img.thumbnail((px, px), PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.convert("L" if img.mode == "L" else "RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _thumbnail(item: Any, px: int) -> bytes | None:
    """From the scan while the item has it, else the JPEG kept when its pixels were released."""
    scan = getattr(item, "scan", None)
    if scan is not None:
        return thumbnail_jpeg(scan.display, px)
    return getattr(item, "thumbnail_jpeg", None)


class BatchReport:
    """Collects batch items (streaming) and writes the batch PDF."""

    def __init__(self, *, model_info: ModelInfo, anonymise: bool = False, thumbnails: bool = True,
                 title: str = "Batch classification report") -> None:
        self.model = model_info
        self.anonymise = anonymise
        self.thumbnails = thumbnails
        self.title = title
        self.rows: list[_Row] = []
        self.series: list[_SeriesRow] = []
        self.patients = StudyIdentities()  # filled only when not anonymised
        self.volumes: list = []  # app.core.reports.volume_report.VolumeRow, one per volume

    def _name(self, item: Any, number: int) -> str:
        if self.anonymise:
            sha = getattr(item, "image_sha256", None)
            return f"image {sha[:12]}" if sha else f"file {number}"
        label = getattr(item, "label", None)
        return label or Path(getattr(item, "path", "")).name

    def add(self, item: Any) -> None:
        if _is_series_summary(item):
            self._add_series(item)
            return
        if not self.anonymise:
            self.patients.note(item)
        number = len(self.rows) + 1
        prediction = getattr(item, "prediction", None)
        row = _Row(number, self._name(item, number), getattr(item, "status", "ok"),
                   getattr(item, "error", None))
        if prediction is not None:
            # what the CSV shows: no figures for a scan that is not assessed, flags under the same threshold
            row.predicted_class = verdict.reported_class(prediction)
            row.assessed = verdict.is_assessed(prediction)
            row.confidence = verdict.reported_confidence(prediction)
            row.p_tumour = verdict.reported_p_tumour(prediction)
            row.flags = verdict.flags_at(prediction, self.model.user_threshold) + tuple(
                getattr(prediction, "ood_reasons", ()) or ())
        elif row.status == "ok":
            row.status = "error"
            row.error = row.error or "no result"
        if self.thumbnails and row.status == "ok":
            row.thumbnail = _thumbnail(item, THUMB_PX)
        self.rows.append(row)

    def _add_series(self, item: Any) -> None:
        top_index = getattr(item, "top_slice_index", None)
        slice_words = f"slice {top_index + 1}" if isinstance(top_index, int) else None
        top_label = getattr(item, "top_slice_label", None) or slice_words
        name = getattr(item, "label", None) or Path(getattr(item, "path", "")).name
        if getattr(item, "kind", None) == "volume":  # its own section, not a DICOM series
            from app.core.reports.volume_report import VolumeRow

            if self.anonymise:  # labels carry file and folder names, which often carry patient names
                name = f"volume {len(self.volumes) + 1}"
            self.volumes.append(VolumeRow.from_summary(item, name))
            return
        if self.anonymise:
            name, top_label = f"series {len(self.series) + 1}", slice_words
        self.series.append(_SeriesRow(
            name, getattr(item, "slice_count", None),
            getattr(item, "majority_class", None), top_label,
            getattr(item, "top_p_tumour", None) if hasattr(item, "top_p_tumour")
            else getattr(item, "max_p_tumour", None)))

    def extend(self, items: Iterable[Any]) -> BatchReport:
        for item in items:
            self.add(item)
        return self

    # -- the document -------------------------------------------------------------------
    def _class_label(self, row: _Row) -> str:
        if row.status != "ok":
            return "failed"
        if not row.assessed or row.predicted_class is None:
            return verdict.NOT_ASSESSED
        return self.model.display_name(row.predicted_class)

    def _summary(self) -> list:
        ok = [r for r in self.rows if r.status == "ok"]
        assessed = [r for r in ok if r.assessed]
        failed = [r for r in self.rows if r.status != "ok"]
        flagged = [r for r in ok if r.flags]
        facts = [
            ("Scans in this batch", str(len(self.rows))),
            ("Classified (assessed)", str(len(assessed))),
            ("Not assessed (out of distribution)", str(len(ok) - len(assessed))),
            ("Flagged (any flag)", str(len(flagged))),
            ("Failed to load", str(len(failed))),
        ]
        if self.series:
            facts.append(("DICOM series", str(len(self.series))))
        if self.volumes:
            facts.append(("Volumes", str(len(self.volumes))))
        fact_table = Table([[para(k, "label"), para(v, "cell_bold")] for k, v in facts],
                           colWidths=[52 * mm, 20 * mm])
        fact_table.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0),
                                        ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
                                        ("LINEBELOW", (0, 0), (-1, -2), 0.3, RULE)]))
        counts = Counter(r.predicted_class for r in assessed)
        names = list(self.model.class_names)
        labels = [f"{self.model.display_name(c)} ({counts.get(c, 0)})" for c in names]
        shares = [counts.get(c, 0) / len(assessed) if assessed else 0.0 for c in names]
        top = int(np.argmax(shares)) if assessed else None
        chart_w = CONTENT_WIDTH - 80 * mm
        chart = [para("Classified scans per class (count, share)", "label"), Spacer(1, 1.5 * mm),
                 probability_chart(labels, shares, highlight=top, width=chart_w)]
        outer = Table([[fact_table, chart]], colWidths=[80 * mm, chart_w])
        outer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        story: list = [para("Summary", "h2"), outer]
        if flagged:
            story += [para(f"Flagged scans ({len(flagged)})", "h2"),
                      self._table([[str(r.number), r.name, self._class_label(r), format_percent(r.confidence, ""),
                                    ", ".join(f.replace("_", " ") for f in r.flags)] for r in flagged],
                                  ["#", "File", "Result", "Confidence", "Flags"],
                                  [10 * mm, 74 * mm, 30 * mm, 22 * mm, None])]
        if failed:
            story += [para(f"Files that could not be classified ({len(failed)})", "h2"),
                      self._table([[str(r.number), r.name, r.error or "unknown error"] for r in failed],
                                  ["#", "File", "Reason"], [10 * mm, 62 * mm, None])]
        if self.series:
            story += [para(f"Series ({len(self.series)})", "h2"),
                      self._table([[s.name, "" if s.slices is None else str(s.slices),
                                    self.model.display_name(s.majority) if s.majority else "—",
                                    s.top_slice or "—", format_percent(s.top_p_tumour)]
                                   for s in self.series],
                                  ["Series", "Slices", "Majority class", "Highest P(tumour) at",
                                   "P(tumour)"], [62 * mm, 14 * mm, 34 * mm, 36 * mm, None])]
        if self.volumes:
            from app.core.reports.volume_report import volume_story

            story += volume_story(self.volumes, self.model.display_name)
        return story

    def _table(self, rows: list[list[str]], header: list[str], widths: list[float | None]) -> Table:
        fixed = sum(w for w in widths if w)
        widths = [w if w else CONTENT_WIDTH - fixed for w in widths]
        data = [[para(h, "label") for h in header]] + [[para(c, "cell") for c in row] for row in rows]
        table = Table(data, colWidths=widths, repeatRows=1)
        table.setStyle(self._grid_style())
        return table

    @staticmethod
    def _grid_style() -> TableStyle:
        return TableStyle([
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, MUTED),
            ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ])

    def _all_scans(self) -> list:
        header = ["#", "Image", "File", "Result", "Confidence", "P(tumour)", "Flags / reason"]
        data: list[list[Any]] = [[para(h, "label") for h in header]]
        style = self._grid_style()
        for i, r in enumerate(self.rows, start=1):
            thumb = Image(io.BytesIO(r.thumbnail), width=THUMB_SIZE, height=THUMB_SIZE,
                          kind="proportional") if r.thumbnail else para("—", "cell")
            notes = r.error if r.status != "ok" else ", ".join(f.replace("_", " ") for f in r.flags)
            result_style = "cell" if r.status != "ok" or not r.assessed else "cell_bold"
            data.append([para(str(r.number), "cell"), thumb, para(r.name, "cell"),
                         para(self._class_label(r), result_style),
                         para(format_percent(r.confidence, ""), "cell"),
                         para(format_percent(r.p_tumour, ""), "cell"),
                         para(notes or "", "warn" if notes else "cell")])
            if r.status != "ok":
                style.add("TEXTCOLOR", (0, i), (-1, i), WARN)
            elif i % 2 == 0:
                style.add("BACKGROUND", (0, i), (-1, i), PANEL)
        widths = [8 * mm, THUMB_SIZE + 4 * mm, 50 * mm, 26 * mm, 20 * mm, 18 * mm]
        widths.append(CONTENT_WIDTH - sum(widths))
        table = Table(data, colWidths=widths, repeatRows=1)
        table.setStyle(style)
        return [para(f"All scans ({len(self.rows)})", "h2"), table]

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        generated = utc_now()
        n_ok = sum(1 for r in self.rows if r.status == "ok")
        n_classified = sum(1 for r in self.rows if r.status == "ok" and r.assessed)
        subtitle = (f"{len(self.rows)} scans: {n_classified} classified, {n_ok - n_classified} not "
                    f"assessed, {len(self.rows) - n_ok} failed")
        if self.anonymise:
            subtitle += " · anonymised: patient identifiers and file names removed"
        patients = [] if self.anonymise else self.patients.story()
        story = [para(self.title, "title"), para(subtitle, "subtitle"), *patients, *self._summary(),
                 KeepTogether([para("Model and run", "h2"), model_block(self.model, generated)]),
                 *self._all_scans(), Spacer(1, 4 * mm), disclaimer_block(self.model)]
        doc = SimpleDocTemplate(str(path), pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN,
                                topMargin=20 * mm, bottomMargin=17 * mm, title=f"BrainLens — {self.title}",
                                author="BrainLens", subject="Research use only — not for diagnostic use")
        decorate = page_decorator("Batch report", generated, self.model)
        doc.build(story, onFirstPage=decorate, onLaterPages=decorate, canvasmaker=NumberedCanvas)
        return path


def write_batch_report(path: str | Path, items: Iterable[Any], *, model_info: ModelInfo,
                       anonymise: bool = False, thumbnails: bool = True) -> Path:
    """Writes the batch PDF for ``items`` (BatchItem and SeriesSummary objects, streamed)."""
    return BatchReport(model_info=model_info, anonymise=anonymise, thumbnails=thumbnails).extend(items).write(path)


class PdfReportSink:
    """The batch PDF as a result sink (``app.core.reports.sinks``): ``write`` per item, the PDF on ``close``.

    It comes before ``ReleasePixels`` in the pipeline, so it sees each scan and thumbnails come along.
    """

    def __init__(self, path: str | Path, model_info: ModelInfo, *, anonymise: bool = False) -> None:
        self.path = Path(path)
        self.report = BatchReport(model_info=model_info, anonymise=anonymise)

    def write(self, item: Any) -> None:
        self.report.add(item)

    def close(self, summary: object = None) -> None:
        self.report.write(self.path)
