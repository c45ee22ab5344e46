"""The main window's batch: a folder of scans classified on a worker into the batch table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog

from app.core.errors import BrainLensError
from app.core.model.verdict import class_display_names
from app.core.runs.batch import SeriesSummary
from app.core.runs.progress import CancelToken, Progress
from app.ui import jobs
from app.core.reports.sinks import RunSummary
from app.ui.batch_panel import row_from_item, row_from_summary
from app.ui.workers import GeneratorWorker, connect_current


class BatchMixin:
    """Starts, feeds, cancels and exports the batch shown in ``MainWindow``'s batch panel."""

    def start_batch(self, paths: list[Path]) -> None:
        if self.classifier is None:
            self._show_error("No model", BrainLensError("Batch classification needs a model: wait for it to load "
                                                         "or choose one with File ▸ Load model…"))
            return
        self.cancel_batch()
        self._batch_cancelled = False
        self.export_target = "batch"
        self.statusBar().showMessage(f"Classifying {len(paths)} folder(s) or file(s) as a batch…")
        self.batch.model.set_hide_patients(self.metadata.hide_identifiers.isChecked())
        self.batch_dock.show()
        self._update_export_actions()
        self.batch.start(f"Classifying {', '.join(p.name for p in paths)}…")
        token = CancelToken()
        worker = GeneratorWorker(jobs.batch_job, paths, self.classifier, token, self.audit, self.shown_model_info(),
                                 cancel=token, name="batch")
        connect_current(worker, lambda: self._batch_worker, on_yield=self._batch_value, on_finish=self._batch_done)
        worker.signals.errored.connect(lambda e: self._show_error("The batch stopped", e))
        self._batch_worker = worker.start()

    def _batch_value(self, value: Any) -> None:
        if isinstance(value, Progress):
            self.batch.set_progress(value.done, value.total, "")
            return
        self.batch.model.add(self._batch_row(value), value)
        if self.batch.model.rowCount() == 1 and "first_result_s" not in self.timings and self._opened_at:
            self.timings["first_result_s"] = time.perf_counter() - self._opened_at

    def _batch_done(self) -> None:
        names = class_display_names(self.classifier.card) if self.classifier is not None else {}
        state = "Cancelled" if self._batch_cancelled else "Done"
        summary = RunSummary.of(self.batch.model.items)
        self.batch.finish(f"{state}: {summary.counts_line(names, per_class=True)}")
        # the status bar shares its width with the model's name: the counts without the per-class detail
        self.statusBar().showMessage(f"Batch {state.lower()}: {summary.counts_line()}", 15000)
        self._batch_worker = None
        self.batch_finished.emit()

    def cancel_batch(self) -> None:
        if self._batch_worker is not None and not self._batch_worker.is_done:
            self._batch_cancelled = True
            self.batch.status.setText("Cancelling…")
            self._batch_worker.quit()

    def refresh_batch_rows(self) -> None:
        """Rebuilds the table's rows from its items (after the low-confidence threshold changed)."""
        self.batch.model.replace_rows([self._batch_row(item) for item in self.batch.model.items])

    def _batch_row(self, item: Any) -> Any:
        """A result's row: a summary row for a series' or a volume's summary, else the scan's row."""
        names = class_display_names(self.classifier.card) if self.classifier is not None else {}
        if isinstance(item, SeriesSummary):
            return row_from_summary(item, names)
        return row_from_item(item, names, self.settings.low_confidence_threshold)

    def export_batch_csv(self) -> None:
        if not self.batch.model.items:
            self._show_error("Nothing to export", BrainLensError("Run a batch first (File ▸ Open folder)."))
            return
        start = str(Path(self.exporter.save_folder()) / "brainlens-results.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export batch results", start, "CSV (*.csv)")
        if path:
            self.exporter.remember_folder(Path(path))
            self.write_batch_csv(Path(path))

    def write_batch_csv(self, path: Path) -> None:
        from app.core.reports.results_io import write_csv

        card = self.classifier.card if self.classifier is not None else None
        class_names = card.class_names if card is not None else ()
        sha = getattr(self.classifier, "model_sha256", "")
        try:
            write_csv(self.batch.model.items, path, class_names, sha, self.settings.low_confidence_threshold)
        except (OSError, BrainLensError) as error:
            self._show_error("The results could not be saved", error)
            return
        self.statusBar().showMessage(f"Saved {path.name}", 8000)

    def _batch_row_activated(self, row: Any) -> None:
        """Shows the row's scan; a series slice (or summary) opens its whole series at that slice."""
        self._opened_at = time.perf_counter()
        self.timings = {}
        target = jobs.SeriesOf(row.path) if row.slice_index is not None else row.path
        self._load_into_viewer(target, frame=row.frame, slice_index=row.slice_index)
