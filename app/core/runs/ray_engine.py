"""Classify on a Ray cluster: the same per-file steps as the local engine, on many machines.

The driver lists the files (``iter_sources``: images as found, DICOM grouped into series) and hands
them to Ray Data as blocks of plain values; an actor pool (``map_batches`` with a class) decodes and
classifies them, each actor holding one ONNX Runtime session loaded once; every actor turns its
``BatchItem``s into rows with the row builder it is given (the local CSV's builder), so the driver
only receives small tables of text, batch by batch, and streams them to the output. Nothing per
scan stays on the driver.

Ray is an optional extra (``pip install brainlens[cluster]``); this module imports it only when a
run starts. Ray restarts an actor that dies and retries its batch, so a killed worker loses and
duplicates nothing: a batch's rows reach the driver once, when the batch has completed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import BrainLensError, ModelLoadError, ScanLoadError
from app.core.model.inference import Classifier
from app.core.runs.batch import (
    BatchItem,
    ScanEntry,
    ScanFile,
    decode_workers,
    load_entries,
    predict_entries,
)
from app.core.scans.loading import file_sha256

INSTALL_HINT = "pip install 'brainlens[cluster]'  (or: pip install 'ray[data]' pyarrow)"
FILE_FIELDS = ("path", "kind", "index", "count", "series_uid")
LISTING_BLOCK = 1024  # files per block handed to Ray: few object references, even for millions of files
SHA256_BYTES = 32

RowBuilder = Callable[[BatchItem], dict[str, str]]


class ClusterError(BrainLensError):
    """Ray is missing, the cluster cannot be reached, or a run on it cannot start."""


def require_ray() -> Any:
    """The ``ray`` module, or a ``ClusterError`` saying how to install it."""
    try:
        import pyarrow  # noqa: F401 - Ray Data's tables
        import ray
        import ray.data
    except ImportError as exc:
        raise ClusterError(f"The Ray engine needs Ray Data and pyarrow, which are not installed: {INSTALL_HINT}") from exc
    return ray


@dataclass(frozen=True)
class RayPlan:
    """How a run uses the cluster: ``workers`` actors, each with its CPUs, GPUs and ONNX session."""

    model_path: Path
    model_sha256: str
    columns: tuple[str, ...]  # the output's columns, in order
    workers: int
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    batch_size: int = 8
    crop: bool | None = None
    device: str = "auto"

    @property
    def worker_device(self) -> str:
        """An actor without a GPU runs on its CPUs (Ray hides the GPUs from it anyway)."""
        if self.device == "auto":
            return "gpu" if self.gpus_per_worker > 0 else "cpu"
        return self.device


def connect(address: str | None, *, num_cpus: int | None = None, quiet: bool = False) -> bool:
    """Joins the cluster at ``address`` ("auto", "ray://head:10001", "head:6379"), or starts a local
    Ray on this machine when None. Returns True when this call started Ray (the caller shuts it down)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet, "configure_logging": True}
    if quiet:
        import logging

        kwargs["logging_level"] = logging.WARNING
    try:
        if address is None:  # this machine only: Ray's servers listen on loopback, not on the network
            ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)
        else:
            kwargs.pop("include_dashboard")
            ray.init(address=address, **kwargs)
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ClusterError(f"Could not connect to {where}: {exc}") from exc
    return True


def default_workers(cpus_per_worker: int, gpus_per_worker: float) -> int:
    """As many actors as the cluster's CPUs (or GPUs, when each actor takes some) allow, at least 1."""
    ray = require_ray()
    resources = ray.cluster_resources()
    if gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) // gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // max(1, cpus_per_worker)))


def classify_on_ray(
    files: Iterable[ScanFile], plan: RayPlan, row_builder: RowBuilder, *, done_sha256: np.ndarray | None = None
) -> Iterator[Any]:
    """Rows of every scan of ``files`` as ``pyarrow.Table``s (string columns ``plan.columns``), one
    per completed batch, in completion order. Files whose sha256 is in ``done_sha256`` (sorted
    ``S32`` digests, see ``sha256_keys``) are skipped on the workers (resume)."""
    ray = require_ray()  # with ray.data imported

    blocks = [ray.put(block) for block in _listing_blocks(files)]
    if not blocks:
        return
    done_ref = ray.put(done_sha256) if done_sha256 is not None and len(done_sha256) else None
    dataset = _in_batches(ray.data.from_arrow_refs(blocks), plan.batch_size)
    dataset = dataset.map_batches(
        ScanClassifierActor,
        batch_size=plan.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=plan.workers),
        num_cpus=plan.cpus_per_worker,
        num_gpus=plan.gpus_per_worker or None,
        fn_constructor_kwargs={"plan": plan, "row_builder": row_builder, "done": (done_ref,)},
    )
    for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1):
        if table.num_rows:
            yield table


class ScanClassifierActor:
    """A Ray actor: one ``Classifier`` (one ONNX Runtime session), loaded once, for every batch it gets."""

    def __init__(self, plan: RayPlan, row_builder: RowBuilder, done: tuple[Any, ...] = (None,)) -> None:
        import pyarrow as pa

        self.plan, self.row_builder = plan, row_builder
        self.classifier = Classifier(plan.model_path, device=plan.worker_device, threads=plan.cpus_per_worker)
        if self.classifier.model_sha256 != plan.model_sha256:
            raise ModelLoadError(
                f"The model file {plan.model_path} on this node is not the driver's (sha256 "
                f"{self.classifier.model_sha256[:12]}… instead of {plan.model_sha256[:12]}…): copy the same model "
                "to every node."
            )
        self.schema = pa.schema([(name, pa.string()) for name in plan.columns])
        reference = done[0]
        if reference is None:
            self.done = None
        else:
            import ray

            self.done = ray.get(reference)
        threads = decode_workers(self.classifier)
        self.decoder = ThreadPoolExecutor(threads, thread_name_prefix="brainlens-load") if threads > 1 else None

    def __call__(self, batch: Any) -> Any:
        files = [f for f in _files_of(batch) if not self._already_done(f)]
        rows = [self.row_builder(item) for item in self._classify(files)]
        return self.schema.empty_table() if not rows else _table(rows, self.schema)

    def _classify(self, files: Sequence[ScanFile]) -> Iterator[BatchItem]:
        decode = self.decoder.map if self.decoder is not None else map
        yield from classify_files(files, self.classifier, crop=self.plan.crop,
                                  batch_size=self.plan.batch_size, decode=decode)

    def _already_done(self, file: ScanFile) -> bool:
        if self.done is None:
            return False
        try:
            digest = bytes.fromhex(file_sha256(file.path))
        except ScanLoadError:  # unreadable: its error row decides
            return False
        return contains_key(self.done, digest)


def classify_files(
    files: Iterable[ScanFile], classifier: Classifier, *, crop: bool | None = None, batch_size: int = 8,
    decode: Callable = map,
) -> Iterator[BatchItem]:
    """Every scan of ``files`` in order, batched as the local engine batches them: the model runs
    once ``batch_size`` decoded scans are waiting. The scans' images are not kept."""
    entries: list[ScanEntry] = []

    def flush() -> Iterator[BatchItem]:
        predict_entries(entries, classifier)
        for entry in entries:
            entry.item.scan = None
            yield entry.item
        entries.clear()

    for file_entries in decode(lambda file: load_entries(file, classifier, crop), files):
        entries.extend(file_entries)
        if sum(entry.prepared is not None for entry in entries) >= batch_size:
            yield from flush()
    if entries:
        yield from flush()


def sha256_keys(hex_digests: Iterable[str]) -> np.ndarray:
    """Sorted, unique 32-byte digests (``S32``): a compact set the workers search without copying."""
    raw = [bytes.fromhex(h) for h in hex_digests if len(h) == 2 * SHA256_BYTES]
    return np.unique(np.array(raw, dtype=f"S{SHA256_BYTES}")) if raw else np.array([], dtype=f"S{SHA256_BYTES}")


def contains_key(keys: np.ndarray, digest: bytes) -> bool:
    # numpy strips trailing NUL bytes of S32 values, so compare through the same dtype
    needle = np.array(digest, dtype=keys.dtype)
    at = int(np.searchsorted(keys, needle))
    return at < len(keys) and keys[at] == needle


def _in_batches(dataset: Any, rows: int) -> Any:
    """Blocks of ``rows`` files, so that whichever actor is idle takes the next batch (a listing
    block of 1024 files would otherwise go to one actor whole). The slicing task costs nothing but
    asks Ray for a CPU by default; when the actors hold every CPU it waits for one forever (seen
    with Ray 2.60 and 2 actors on 2 CPUs), so it is made to ask for none."""
    dataset = dataset.repartition(target_num_rows_per_block=rows)
    remote_args = getattr(getattr(getattr(dataset, "_logical_plan", None), "dag", None), "ray_remote_args", None)
    if isinstance(remote_args, dict):  # Ray Data exposes no public option for this task's resources
        remote_args["num_cpus"] = 0
    return dataset


def _listing_blocks(files: Iterable[ScanFile], size: int = LISTING_BLOCK) -> Iterator[Any]:
    import pyarrow as pa

    columns: dict[str, list] = {name: [] for name in FILE_FIELDS}
    for file in files:
        columns["path"].append(os.fspath(file.path))
        columns["kind"].append(file.kind)
        columns["index"].append(file.index)
        columns["count"].append(file.count)
        columns["series_uid"].append(file.series_uid)
        if len(columns["path"]) >= size:
            yield pa.table(columns, schema=_file_schema())
            columns = {name: [] for name in FILE_FIELDS}
    if columns["path"]:
        yield pa.table(columns, schema=_file_schema())


def _file_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("kind", pa.string()), ("index", pa.int64()),
                      ("count", pa.int64()), ("series_uid", pa.string())])


def _files_of(batch: Any) -> list[ScanFile]:
    values = {name: batch.column(name).to_pylist() for name in FILE_FIELDS}
    return [ScanFile(Path(path), kind, index, count, uid)
            for path, kind, index, count, uid in zip(*(values[name] for name in FILE_FIELDS))]


def _table(rows: list[dict[str, str]], schema: Any) -> Any:
    import pyarrow as pa

    return pa.table({name: [row.get(name, "") for row in rows] for name in schema.names}, schema=schema)
