"""``brainlens classify SOURCES --engine ray --out results.parquet|csv``: the batch on a Ray cluster.

The driver lists the files, Ray's actors decode and classify them (``app.core.runs.ray_engine``),
and the rows, built on the workers by the local CSV's row builder, are written here batch by batch
(``app.core.reports.results_table``). Progress is Ray Data's progress bars; the end is the same
summary the local engine prints. Ctrl+C closes the output with every row received so far, and
``--resume`` skips the scans it already holds (by image_sha256 + model_sha256).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from app.cli_types import positive_float, positive_int
from app.core.errors import BrainLensError
from app.core.model.inference import Classifier
from app.core.model.verdict import NOT_ASSESSED
from app.core.reports.sinks import RunSummary
from app.core.reports.results_table import (
    DoneScans,
    check_columns,
    done_scans,
    open_table_writer,
    row_builder,
)
from app.core.runs.batch import ScanFile, source_files
from app.core.runs.ray_engine import (
    RayPlan,
    classify_on_ray,
    connect,
    default_workers,
    require_ray,
)
from app.core.scans.loading import iter_sources

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FAILURES_SHOWN = 20  # an archive may hold thousands of bad files: the rest are in the output's error rows
LOCAL_ONLY = (("--csv", "csv"), ("--json", "json"), ("--heatmaps", "heatmaps"), ("--report", "report"),
              ("--from-pacs", "from_pacs"), ("--send-results", "send_results"))
RAY_ONLY = (("--out", "out"), ("--resume", "resume"), ("--address", "address"), ("--workers", "workers"),
            ("--cpus-per-worker", "cpus_per_worker"), ("--gpus-per-worker", "gpus_per_worker"))


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("on a Ray cluster (pip install 'brainlens[cluster]')")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this machine (default); ray: Ray Data actors on a cluster")
    group.add_argument("--out", type=Path, metavar="FILE", help="--engine ray: the results table, .csv or .parquet")
    group.add_argument("--resume", action="store_true", default=None,
                       help="--engine ray: keep --out's rows and skip the scans it holds (same model)")
    group.add_argument("--address", metavar="ADDRESS",
                       help="the cluster: auto, ray://HEAD:10001 or HEAD:6379 (default: a Ray on this machine)")
    group.add_argument("--workers", type=positive_int, metavar="N",
                       help="actors, each with one model session (default: as many as the cluster's CPUs/GPUs allow)")
    group.add_argument("--cpus-per-worker", type=positive_int, metavar="N", help="CPUs (model threads) per actor (1)")
    group.add_argument("--gpus-per-worker", type=positive_float, metavar="G", help="GPUs per actor, e.g. 1 (0)")


def uses_cluster(args: argparse.Namespace) -> bool:
    """True when the run is for this module: --engine ray, or one of its options (then it says why not)."""
    return args.engine == "ray" or any(getattr(args, name, None) for _, name in RAY_ONLY)


def classify_on_cluster(args: argparse.Namespace, *, out, err) -> int:
    problem = _usage_problem(args)
    if problem:
        print(f"brainlens: {problem}", file=err)
        return EXIT_USAGE
    started_ray = False
    try:
        require_ray()
        classifier = Classifier(args.model, device="cpu", threads=1)  # the card and the hash; nothing runs here
        resume = bool(args.resume) and args.out.exists() and args.out.stat().st_size > 0
        if resume:
            check_columns(args.out, writer_columns(classifier))
        done = done_scans(args.out, classifier.model_sha256) if resume else None
        started_ray = connect(args.address, quiet=args.quiet)
        writer = open_table_writer(args.out, classifier.card.class_names, classifier.model_sha256, resume=resume)
        return _run(args, classifier, writer, done, out, err)
    except BrainLensError as exc:
        print(f"brainlens: {exc}", file=err)
        return EXIT_USAGE
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _run(args, classifier: Classifier, writer, done: DoneScans | None, out, err) -> int:
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = not args.quiet
    cpus, gpus = args.cpus_per_worker or 1, args.gpus_per_worker or 0.0
    plan = RayPlan(
        model_path=classifier.path, model_sha256=classifier.model_sha256,
        columns=tuple(writer_columns(classifier)), workers=args.workers or default_workers(cpus, gpus),
        cpus_per_worker=cpus, gpus_per_worker=gpus, batch_size=args.batch_size, crop=args.crop, device=args.device,
    )
    audit = _audit(args, classifier, plan)
    summary = RunSummary(failures_kept=FAILURES_SHOWN)
    started, interrupted, failure = time.perf_counter(), False, None
    try:
        files = listed_files(args.paths, args.recursive, done.unreadable if done else frozenset())
        rows = row_builder(classifier.card.class_names, classifier.model_sha256,
                           getattr(args, "low_confidence", None))
        for table in classify_on_ray(files, plan, rows, done_sha256=done.sha256 if done else None):
            writer.write(table)
            count_table(summary, table)
            if audit is not None:
                audit(table)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # noqa: BLE001 - a cluster failure ends the run; the rows so far stay written
        failure = f"The run on the cluster stopped: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        writer.close()
    summary.seconds, summary.interrupted = time.perf_counter() - started, interrupted
    for line in summary_lines(summary, classifier, plan, args.out, done):
        print(line, file=out)
    if failure:
        print(f"brainlens: {failure}", file=err)
        return EXIT_SOME_FAILED
    if interrupted:
        return EXIT_INTERRUPTED
    if done is not None and not summary.scans:  # resumed, and nothing was left to do
        return EXIT_OK
    return EXIT_OK if summary.read and not summary.failed else EXIT_SOME_FAILED


def writer_columns(classifier: Classifier) -> list[str]:
    from app.core.reports.results_io import csv_columns

    return csv_columns(classifier.card.class_names)


def listed_files(paths, recursive: bool, unreadable: frozenset[str]) -> Iterator[ScanFile]:
    """Every file to classify, minus those the output already has an error row for (no digest)."""
    for source in iter_sources(paths, recursive=recursive):
        for file in source_files(source):
            if str(file.path) not in unreadable:
                yield file


def count_table(summary: RunSummary, table) -> None:
    """Counts a table of result rows (``results_table`` columns) into the run's summary."""
    columns = [table.column(name).to_pylist() for name in ("status", "predicted_class", "path", "error")]
    for status, label, path, error in zip(*columns):
        summary.count_outcome(status, label, path, error)


def summary_lines(summary: RunSummary, classifier: Classifier, plan: RayPlan, path: Path,
                  done: DoneScans | None) -> list[str]:
    elapsed = summary.seconds
    rate = f", {summary.read / elapsed:.2f} scans/s" if elapsed > 0 and summary.read else ""
    where = f"{plan.workers} Ray worker(s) × {plan.cpus_per_worker} CPU"
    if plan.gpus_per_worker:
        where += f" + {plan.gpus_per_worker:g} GPU"
    lines = [""]
    if summary.interrupted:
        lines.append(f"Interrupted: the results so far have been written to {path}.")
    lines.append(f"{summary.counts_line()} ({elapsed:.1f} s{rate}; "
                 f"{classifier.card.name} {classifier.card.version} on {where})")
    if done is not None:
        lines.append(f"resumed: {done.rows} rows already in {path.name} were kept and their scans skipped")
    classes = summary.classes + Counter({NOT_ASSESSED: summary.not_assessed})
    if classes:
        lines.append("classes: " + ", ".join(f"{name} {n}" for name, n in classes.most_common()))
    if not summary.scans and done is None:
        lines.append("Nothing to classify: no image or DICOM files were found.")
    if summary.failures:
        lines.append("Could not classify:")
        lines.extend(f"  {p}: {reason}" for p, reason in summary.failures)
        if summary.failed > len(summary.failures):
            lines.append(f"  … and {summary.failed - len(summary.failures)} more (the error rows of {path.name})")
    lines.append(f"Results: {path}")
    lines.append("Research use only: not for diagnosis.")
    return lines


def _audit(args, classifier: Classifier, plan: RayPlan):
    """Appends one audit record per classified row, a batch at a time (``--no-audit``: none)."""
    if not args.audit:
        return None
    from app.core.reports.audit import append_events
    from app.core.model.identity import ModelInfo
    from app.core.reports.results_table import audit_event

    info = dataclasses.replace(ModelInfo.from_classifier(classifier), device=f"Ray ({plan.worker_device})")

    def record(table) -> None:
        events = [e for e in (audit_event(row, info) for row in table.to_pylist()) if e is not None]
        if events:
            append_events(events)

    return record


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.engine != "ray":
        given = [flag for flag, name in RAY_ONLY if getattr(args, name, None)]
        return f"{', '.join(given)} only work with --engine ray."
    given = [flag for flag, name in LOCAL_ONLY if getattr(args, name, None)]
    if given:
        return (f"{', '.join(given)} are not available with --engine ray: it writes one table (--out); "
                "classify a selection locally for heatmaps and reports.")
    if args.out is None:
        return "--engine ray writes its results to --out FILE.csv or FILE.parquet."
    if args.out.suffix.lower() not in (".csv", ".parquet"):
        return f"--out must end in .csv or .parquet, not {args.out.name}."
    if not args.out.parent.resolve().is_dir():
        return f"cannot write {args.out}: no such folder."
    return None
