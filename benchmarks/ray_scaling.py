"""The Ray engine against the local engine, side by side in one run, on the same real scans.

    python -m benchmarks.ray_scaling --n 400

Builds N scans: three quarters real labelled MRI JPEGs (/work/shared/data/kaggle test-dev, or
``--data``), one quarter DICOM series of the MNI template written by tests/mri_data.py, in chunks
of 100. Then, chunk by chunk and taking turns (the machine is shared; its speed changes by the
minute, so each contender meets the same swings), classifies every chunk with:

- local: ``run_batch`` + the CSV writer, one process, ONNX Runtime on all cores (the CLI's path);
- ray-1: ``classify_on_ray`` with 1 actor x 1 CPU (one ONNX thread);
- ray-2: 2 actors x 1 CPU each (the same cores as local when ``--cpus`` is 2).

Each Ray call starts its actors and loads the model in them, as a run does; the table gives both
the whole time and the steady rate after the first batch (actor start excluded). The driver's
peak memory (ru_maxrss) after the first and the last chunk shows whether it grows with the files.
Prints a markdown table; ``--results FILE`` also writes it there.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KAGGLE = next((p for p in (REPO.parent / "shared" / "data" / "kaggle" / "test-dev",
                            Path("/work/shared/data/kaggle/test-dev")) if p.is_dir()), REPO.parent / "shared")
CHUNK = 100
SERIES = 25


def build_chunks(root: Path, n: int, data: Path) -> list[Path]:
    """N scans in chunks of CHUNK: 75 % real JPEGs (classes in turn), 25 % MNI DICOM series."""
    from tests import mri_data

    jpgs = sorted(data.rglob("*.jpg"))
    by_class: dict[str, list[Path]] = {}
    for path in jpgs:
        by_class.setdefault(path.parent.name, []).append(path)
    interleaved = [p for group in zip(*by_class.values()) for p in group]
    chunks, used = [], 0
    for k, start in enumerate(range(0, n, CHUNK)):
        size = min(CHUNK, n - start)
        folder = root / f"chunk_{k:02d}"
        dicom_count = size // 4
        (folder / "jpg").mkdir(parents=True)
        for path in interleaved[used : used + size - dicom_count]:
            shutil.copy(path, folder / "jpg" / path.name)
        used += size - dicom_count
        for s, first in enumerate(range(0, dicom_count, SERIES)):
            count = min(SERIES, dicom_count - first)
            mri_data.write_dicom_series(folder / f"series_{s}", [40 + 4 * i + k for i in range(count)],
                                        shuffle_files=False)
        chunks.append(folder)
    return chunks


def run_local(chunk: Path, classifier, out: Path) -> tuple[int, float, float]:
    from app.core.reports.results_io import CsvResultWriter
    from app.core.runs.batch import BatchItem, run_batch

    started = time.perf_counter()
    first = None
    rows = 0
    with CsvResultWriter(out, classifier.card.class_names, classifier.model_sha256) as writer:
        for item in run_batch([chunk], classifier, keep_scans=False):
            writer.write(item)
            if isinstance(item, BatchItem):
                rows += 1
                if rows == 8:  # the first batch (run_batch's default batch size) is out
                    first = (time.perf_counter(), rows)
    return rows, time.perf_counter() - started, _steady(first, rows, started)


def run_ray(chunk: Path, contender, builder, out: Path) -> tuple[int, float, float]:
    from app.cli_ray import listed_files
    from app.core.reports.results_table import open_table_writer
    from app.core.runs.ray_engine import classify_on_ray

    started = time.perf_counter()
    first = None
    rows = 0
    writer = open_table_writer(out, contender.class_names, contender.model_sha256, resume=False)
    try:
        for table in classify_on_ray(listed_files([chunk], True, frozenset()), contender.plan, builder):
            writer.write(table)
            if first is None:
                first = (time.perf_counter(), table.num_rows)
            rows += table.num_rows
    finally:
        writer.close()
    return rows, time.perf_counter() - started, _steady(first, rows, started)


def _steady(first, rows: int, started: float) -> float:
    """Scans per second after the first result (set-up excluded)."""
    if first is None or rows <= first[1]:
        return 0.0
    return (rows - first[1]) / max(1e-9, time.perf_counter() - first[0])


class _RayContender:
    def __init__(self, classifier, workers: int, cpus: int) -> None:
        from app.core.reports.results_io import csv_columns
        from app.core.runs.ray_engine import RayPlan

        self.class_names, self.model_sha256 = classifier.card.class_names, classifier.model_sha256
        self.plan = RayPlan(classifier.path, classifier.model_sha256, tuple(csv_columns(self.class_names)),
                            workers=workers, cpus_per_worker=cpus, device="cpu")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--cpus", type=int, default=2, help="cores: the local engine's threads and the local Ray's CPUs")
    parser.add_argument("--data", type=Path, default=KAGGLE)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no real data at {args.data} (see /work/shared/data/README.md)", file=sys.stderr)
        return 2
    import ray

    from app.core.model.inference import Classifier
    from app.core.reports.results_table import row_builder

    load = _load_average()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        chunks = build_chunks(root / "scans", args.n, args.data)
        # Ray starts its workers at nice 15 so that its own servers stay responsive; on a machine shared
        # with other jobs that alone would slow the Ray contenders against the local engine.
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="WARNING", _node_ip_address="127.0.0.1")
        ray.data.DataContext.get_current().enable_progress_bars = False
        local = Classifier(device="cpu", threads=args.cpus)
        local.run([local.prepare(__import__("numpy").zeros((64, 64), "uint8"))])  # warm-up, untimed
        contenders = {"local": None, "ray-1": _RayContender(local, 1, 1),
                      "ray-2": _RayContender(local, 2, 1)}
        builder = row_builder(local.card.class_names, local.model_sha256)
        totals = {name: [0, 0.0, 0.0] for name in contenders}  # rows, seconds, steady-state seconds
        rss = []
        for k, chunk in enumerate(chunks):
            order = list(contenders) if k % 2 == 0 else list(reversed(contenders))
            for name in order:
                out = root / f"{name}_{k}.csv"
                if name == "local":
                    rows, seconds, steady = run_local(chunk, local, out)
                else:
                    rows, seconds, steady = run_ray(chunk, contenders[name], builder, out)
                totals[name][0] += rows
                totals[name][1] += seconds
                totals[name][2] += rows / steady if steady else seconds
                print(f"chunk {k} {name}: {rows} scans in {seconds:.1f} s (steady {steady:.2f}/s)", flush=True)
            rss.append((sum(len(list(c.rglob('*.*'))) for c in chunks[: k + 1]),
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        ray.shutdown()
    table = _table(totals, rss, args, load, _load_average())
    print(table)
    if args.results:
        args.results.write_text(table + "\n")
    return 0


def _load_average() -> list[str]:
    with open("/proc/loadavg") as fh:
        return fh.read().split()[:3]


def _table(totals, rss, args, load_before, load_after) -> str:
    rate = {name: rows / seconds for name, (rows, seconds, _) in totals.items()}
    steady = {name: rows / s for name, (rows, _, s) in totals.items()}
    lines = [
        (f"`python -m benchmarks.ray_scaling --n {args.n} --cpus {args.cpus}`; load average before "
         f"{' '.join(load_before)}, after {' '.join(load_after)} ({os.cpu_count()} CPUs)"),
        "",
        "| contender | scans | scans/s (whole run) | scans/s (after first batch) |",
        "|---|---:|---:|---:|",
    ]
    for name, (rows, _seconds, _) in totals.items():
        lines.append(f"| {name} | {rows} | {rate[name]:.3f} | {steady[name]:.3f} |")
    lines += [
        "",
        "| ratio | whole run | after first batch | target |",
        "|---|---:|---:|---|",
        f"| ray-2 ÷ ray-1 | {rate['ray-2'] / rate['ray-1']:.2f} | {steady['ray-2'] / steady['ray-1']:.2f} | ≥ 1.6 |",
        (f"| ray-2 ÷ local (equal cores) | {rate['ray-2'] / rate['local']:.2f} | "
         f"{steady['ray-2'] / steady['local']:.2f} | ≥ 0.9 |"),
        "",
        "driver peak memory (ru_maxrss) after " + ", ".join(f"{n} files: {mb:.0f} MB" for n, mb in rss),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
