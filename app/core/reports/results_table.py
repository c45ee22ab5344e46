"""A cluster run's results as one file: the local CSV's rows, in CSV or Parquet, streamed as they come.

Rows are built by ``results_io.csv_row`` (on the Ray workers, through ``row_builder``), so a
Ray run's CSV is the local engine's CSV. Parquet holds the same columns with numbers typed
(slice/frame as integers, probabilities as the CSV's 4-decimal values, empty cells as nulls), and
is written to ``NAME.partial`` and renamed when closed, so the file a reader sees is always whole.
``done_scans`` reads what an output already holds, for ``--resume``.
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import BrainLensError
from app.core.model.identity import ModelInfo
from app.core.model.verdict import NOT_ASSESSED
from app.core.reports.numbers import PROBABILITY_DECIMALS
from app.core.reports.results_io import CsvResultWriter, csv_columns, csv_row
from app.core.runs.batch import BatchItem
from app.core.runs.ray_engine import sha256_keys

TABLE_SUFFIXES = (".csv", ".parquet")
INTEGER_COLUMNS = frozenset({"slice", "frame"})
ROW_GROUP_ROWS = 4096  # Parquet rows buffered on the driver before a row group is written


class ResultsFileError(BrainLensError):
    """The output file cannot be written, or cannot be resumed (other columns, unreadable)."""


def row_builder(class_names: Sequence[str], model_sha256: str,
                threshold: float | None = None) -> Callable[[BatchItem], dict[str, str]]:
    """The local CSV's row builder with the model's classes, hash and low-confidence threshold bound
    (picklable, for Ray workers)."""
    return functools.partial(csv_row, class_names=tuple(class_names), model_sha256=model_sha256,
                             threshold=threshold)


def is_float_column(name: str) -> bool:
    return name in ("confidence", "p_tumour") or name.startswith(("prob_", "raw_prob_"))


def parquet_schema(columns: Sequence[str]) -> Any:
    import pyarrow as pa

    def kind(name: str):
        if name in INTEGER_COLUMNS:
            return pa.int32()
        return pa.float64() if is_float_column(name) else pa.string()

    return pa.schema([(name, kind(name)) for name in columns])


def typed(table: Any, schema: Any) -> Any:
    """A table of CSV text as ``schema``'s types: "" becomes null, "0.8734" the float 0.8734."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_string(field.type):
            arrays.append(column)
        else:
            blank = pc.equal(column, "")
            arrays.append(pc.if_else(blank, pa.scalar(None, pa.string()), column).cast(field.type))
    return pa.table(arrays, schema=schema)


def text_row(row: dict[str, Any]) -> dict[str, str]:
    """A typed row (from Parquet) as the CSV writes it."""
    out = {}
    for name, value in row.items():
        if value is None:
            out[name] = ""
        elif is_float_column(name):
            out[name] = f"{value:.{PROBABILITY_DECIMALS}f}"
        else:
            out[name] = str(value)
    return out


class CsvTableWriter:
    """Batches of rows appended to the local engine's CSV writer (flushed after every batch)."""

    def __init__(self, path: Path, class_names: Sequence[str], model_sha256: str, *, append: bool) -> None:
        self.path = path
        self._writer = CsvResultWriter(path, class_names, model_sha256, append=append)

    @property
    def rows(self) -> int:
        return self._writer.rows

    def write(self, table: Any) -> None:
        self._writer.write_rows(table.to_pylist())

    def close(self) -> None:
        self._writer.close()


class ParquetTableWriter:
    """Row groups of ``ROW_GROUP_ROWS`` rows in ``NAME.partial``, renamed to NAME on close; when
    resuming, the existing file's rows are copied first (row group by row group)."""

    def __init__(self, path: Path, columns: Sequence[str], *, append: bool) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.schema = parquet_schema(columns)
        self._pending: list[Any] = []
        self._pending_rows = 0
        self.rows = 0
        self._writer = pq.ParquetWriter(self.partial, self.schema)
        if append and path.exists():
            existing = pq.ParquetFile(path)
            for group in range(existing.num_row_groups):
                self._writer.write_table(existing.read_row_group(group))

    def write(self, table: Any) -> None:
        self._pending.append(typed(table, self.schema))
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending))
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self._flush()
        finally:
            self._writer.close()
            self._writer = None
            os.replace(self.partial, self.path)


def open_table_writer(path: Path, class_names: Sequence[str], model_sha256: str, *, resume: bool):
    """A CSV or Parquet writer by ``path``'s suffix; ``resume`` keeps what the file holds."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ResultsFileError(f"The output must be a .csv or .parquet file, not {path.name}.")
    columns = csv_columns(class_names)
    resume = resume and path.exists() and path.stat().st_size > 0
    if resume:
        check_columns(path, columns)
    try:
        if suffix == ".csv":
            if resume:
                drop_partial_last_line(path)
            return CsvTableWriter(path, class_names, model_sha256, append=resume)
        return ParquetTableWriter(path, columns, append=resume)
    except OSError as exc:
        raise ResultsFileError(f"Cannot write {path}: {exc.strerror or exc}.") from exc


def check_columns(path: Path, columns: Sequence[str]) -> None:
    found = file_columns(path)
    if found != list(columns):
        raise ResultsFileError(
            f"{path.name} has other columns than this model's results ({', '.join(found[:6])}…): "
            "resume into the file it was started with, or write to a new file."
        )


def file_columns(path: Path) -> list[str]:
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        with open(path, newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), [])
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a damaged file
        raise ResultsFileError(f"{path.name} cannot be read to resume from it ({exc}).") from exc


def drop_partial_last_line(path: Path) -> None:
    """Cuts a row the writer did not finish (a killed driver) so appended rows start on a new line."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        position = size
        while position > 0:
            step = min(65536, position)
            fh.seek(position - step)
            chunk = fh.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                fh.truncate(position - step + newline + 1)
                return
            position -= step
        fh.truncate(0)


def read_rows(path: Path, columns: Sequence[str] | None = None) -> Iterator[dict[str, str]]:
    """The rows of a CSV or Parquet results file, as the CSV's text, one at a time."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
            yield from (text_row(row) for row in batch.to_pylist())
        return
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            yield row if columns is None else {name: row.get(name, "") for name in columns}


@dataclass(frozen=True)
class DoneScans:
    """What an output already holds for one model: file digests, and files that had none (unreadable)."""

    sha256: np.ndarray  # sorted S32 digests (see ``ray_engine.sha256_keys``)
    unreadable: frozenset[str]  # paths of error rows without a digest
    rows: int


def done_scans(path: Path, model_sha256: str) -> DoneScans:
    """The scans a rerun with ``--resume`` skips: rows of this model, by image_sha256 (paths for
    rows whose file could not even be read). Held as 32-byte digests, not as rows."""
    pending: list[str] = []
    chunks: list[np.ndarray] = []
    unreadable: set[str] = set()
    rows = 0
    for row in read_rows(path, ["path", "image_sha256", "model_sha256"]):
        if row["model_sha256"] != model_sha256:
            continue
        rows += 1
        if row["image_sha256"]:
            pending.append(row["image_sha256"])
            if len(pending) >= 65536:  # as digests, a million rows take 32 MB, not ~120 MB of text
                chunks.append(sha256_keys(pending))
                pending = []
        else:
            unreadable.add(row["path"])
    chunks.append(sha256_keys(pending))
    return DoneScans(np.unique(np.concatenate(chunks)), frozenset(unreadable), rows)


def _number(text: str) -> float | None:
    return float(text) if text else None


def audit_event(row: dict[str, str], model_info: ModelInfo, action: str = "cluster_classify"):
    """The audit record of one classified row (None for an error row: nothing was classified)."""
    import dataclasses

    from app.core.reports.audit import model_event

    if row.get("status") == "error":
        return None
    return dataclasses.replace(
        model_event(action, model_info, file_sha256=row.get("image_sha256") or None),
        model_sha256=row.get("model_sha256") or None,
        result=row.get("predicted_class") or NOT_ASSESSED,
        confidence=_number(row.get("confidence", "")),
        p_tumour=_number(row.get("p_tumour", "")),
        flags=tuple(flag for flag in row.get("flags", "").split(";") if flag),
    )
