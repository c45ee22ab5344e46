"""``brainlens classify PATH...``: the batch classifier in a terminal.

It drives ``app.core.runs.batch.run_batch`` (the generator the GUI's batch panel uses), prints one line
per scan and a summary, shows a progress bar on stderr when stderr is a terminal, and feeds the results
to the core's result pipeline (``app.core.reports.sinks``: CSV, JSON, heatmaps, PDF, audit log, PACS), the
one the GUI's batch feeds too: nothing is kept per scan once it has been written.

Exit status: 0 every file classified; 1 some files failed (or nothing to classify);
2 usage or set-up error (bad arguments, the model cannot be loaded); 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.core.runs.batch import BatchItem, SeriesSummary, run_batch
from app.core.runs.progress import CancelToken
from app.cli_types import positive_int, unit_float
from app.core.errors import BrainLensError
from app.core.model.identity import ModelInfo
from app.core.model.inference import Classifier, default_model_path, resources_dir
from app.core.model.modality import describe_reason
from app.core.model.verdict import NOT_ASSESSED, class_display_names
from app.core.reports.numbers import format_probability
from app.core.reports.results_io import CsvResultWriter, JsonResultWriter, item_flags
from app.core.reports.sinks import ReleasePixels, ResultPipeline, ResultSink, RunSummary
from app.core.version import app_version
from app.cli_warnings import ReaderWarnings
from app.cli_ray import add_cluster_arguments, classify_on_cluster, uses_cluster

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SAMPLE_NAME = "mni_axial_z90.png"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainlens classify",
        description="Classify brain MRI slices (files, folders, DICOM series). Research use only: not for diagnosis.",
        epilog=f"exit status: {EXIT_OK} every file classified; {EXIT_SOME_FAILED} some files could not be read "
               f"(they are listed), or nothing to classify; {EXIT_USAGE} usage or set-up error; "
               f"{EXIT_INTERRUPTED} interrupted (Ctrl+C: the results so far are written)",
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="image, DICOM or NIfTI files, or folders")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write one row per scan to this CSV file")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write results (and series summaries) as JSON")
    parser.add_argument("--heatmaps", type=Path, metavar="DIR", help="write a Grad-CAM overlay PNG per assessed scan here (none for a scan not assessed; a volume: one <name>_gradcam.nii.gz)")
    parser.add_argument("--plane", choices=("axial", "all"), default="axial",
                        help="volumes (NIfTI, non-axial DICOM series): classify axial slices, or every plane "
                             "the model card says the model was trained on (default: axial)")
    parser.add_argument("--model", type=Path, metavar="FILE", help="a BrainLens ONNX model (default: the bundled one)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto", help="where to run the model")
    parser.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                        help="look into sub-folders (default: yes)")
    parser.add_argument("--crop", action=argparse.BooleanOptionalAction, default=None,
                        help="crop to the head before classifying (default: as the model card says)")
    parser.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="images per model run (8)")
    parser.add_argument("--colormap", default="inferno", choices=("inferno", "magma", "viridis", "plasma", "turbo", "jet"),
                        help="heatmap colour map (default: inferno)")
    parser.add_argument("--opacity", type=unit_float, default=0.4, help="heatmap opacity 0..1 (default 0.4)")
    parser.add_argument("--report", type=Path, metavar="FILE.pdf",
                        help="write a PDF report of the run (summary, flagged scans, failures, every scan)")
    parser.add_argument("--anonymise", "--anonymize", action="store_true",
                        help="remove patient identifiers (and file names) from the PDF report")
    parser.add_argument("--no-audit", dest="audit", action="store_false",
                        help="do not append this run to the audit log (default: every classification is logged)")
    parser.add_argument("--low-confidence", type=unit_float, default=None, metavar="P",
                        help="flag results whose confidence is below P (default: the model card's threshold); "
                             "the table, CSV, JSON, PDF and audit log all use it")
    parser.add_argument("--quiet", action="store_true", help="print only the summary and the errors")
    pacs = parser.add_argument_group("PACS (see `brainlens pacs -h`)")
    pacs.add_argument("--from-pacs", metavar="QUERY", help='retrieve the series matching QUERY (e.g. '
                      '"id=BL-7,date=20260115") from the node and classify them')
    pacs.add_argument("--node", metavar="NAME", help="the configured PACS node (default: the only one)")
    pacs.add_argument("--retrieve-method", choices=("get", "move", "wado"), help="how to retrieve (default: C-GET "
                      "for DICOM nodes, WADO-RS for DICOMweb)")
    pacs.add_argument("--send-results", action="store_true", help="send the heatmap (SC), the report (PDF) and a "
                      "structured report (SR) of each study back to the node")
    add_cluster_arguments(parser)
    return parser


def format_line(item: BatchItem, width: int = 44, display_name=lambda name: name,
                threshold: float | None = None) -> str:
    """One table line; ``display_name`` maps a class to the card's display name ("No tumour")."""
    label = item.label if len(item.label) <= width else "…" + item.label[-(width - 1):]
    if item.prediction is None:
        return f"{label:<{width}}  ERROR  {item.error}"
    p = item.prediction
    if not p.assessed:  # out of distribution: no class figures, only why (in words)
        flags = ",".join(item_flags(item, threshold)) or "-"
        why = "; ".join(describe_reason(r) for r in p.ood_reasons)
        return f"{label:<{width}}  {p.label:<16}  {'-':>6}  {'-':>9}  {flags}" + (f"  ({why})" if why else "")
    p_tumour = format_probability(p.p_tumour) or "-"
    flags = ",".join(item_flags(item, threshold)) or "-"
    return (f"{label:<{width}}  {display_name(p.predicted_class):<16}  {format_probability(p.confidence):>6}  "
            f"{p_tumour:>9}  {flags}")


def header_line(width: int = 44) -> str:
    return f"{'scan':<{width}}  {'class':<16}  {'conf.':>6}  {'P(tumour)':>9}  flags"


def format_series(summary: SeriesSummary, display_name=lambda name: name) -> str:
    """"series X: 20 slices: 18 classified, 2 not assessed, 0 failed; majority Glioma (12); highest ..."."""
    counts = (f"{summary.slice_count} slices: {summary.classified} classified, {summary.not_assessed} not "
              f"assessed, {summary.failed} failed")
    if summary.classified and summary.majority_class not in (None, NOT_ASSESSED):
        verdict = (f"majority {display_name(summary.majority_class)} "
                   f"({summary.class_counts.get(summary.majority_class, 0)} of {summary.classified})")
    else:
        verdict = "no slice classified"
    top = ""
    if summary.top_slice_index is not None:
        p = format_probability(summary.top_p_tumour) if summary.top_p_tumour is not None else ""
        plane = f"{summary.top_plane} " if getattr(summary, "top_plane", None) else ""
        top = f"; highest P(tumour) at {plane}slice {summary.top_slice_index + 1}" + (f" ({p})" if p else "")
    if getattr(summary, "kind", "series") == "volume":
        from app.core.reports.volume_report import volume_line

        return volume_line(summary, f"{counts}; {verdict}{top}")
    return f"series {summary.label}: {counts}; {verdict}{top}"


def classify(args: argparse.Namespace, *, out=None, err=None, classifier: Classifier | None = None) -> int:
    """Runs ``brainlens classify`` with parsed ``args``; ``classifier`` reuses a loaded model."""
    out, err = out or sys.stdout, err or sys.stderr
    from_pacs, send_results = getattr(args, "from_pacs", None), getattr(args, "send_results", False)
    if not args.paths and not from_pacs:
        print("brainlens: give files or folders to classify, or --from-pacs QUERY", file=err)
        return EXIT_USAGE
    if uses_cluster(args):
        return classify_on_cluster(args, out=out, err=err)
    if classifier is None:
        try:
            classifier = Classifier(args.model, device=args.device)
        except BrainLensError as exc:
            print(f"brainlens: {exc}", file=err)
            return EXIT_USAGE
    if classifier.device_note:
        print(f"brainlens: {classifier.device_note}", file=err)
    sender = None
    if from_pacs or send_results:  # retrieves into the cache (args.paths grows), checks the node for sending
        from app import cli_pacs

        sender, failure = cli_pacs.prepare_classify(args, classifier, err)
        if failure is not None:
            return failure
    sinks: list[ResultSink] = [sender] if sender is not None else []
    model = ModelInfo.from_classifier(classifier).with_threshold(getattr(args, "low_confidence", None))
    try:
        sinks.extend(_file_sinks(args, model))
    except OSError as exc:
        print(f"brainlens: cannot write {exc.filename}: {exc.strerror}", file=err)
        return EXIT_USAGE
    code = _run(args, classifier, sinks, out, err)
    return max(code, EXIT_SOME_FAILED) if sender is not None and sender.failed and code != EXIT_INTERRUPTED else code


def _file_sinks(args: argparse.Namespace, model: ModelInfo) -> list[ResultSink]:
    """The sinks the options ask for; a file that cannot be written fails now, before the run."""
    sinks: list[ResultSink] = []
    if args.csv:
        sinks.append(CsvResultWriter.for_model(args.csv, model))
    if args.json:
        sinks.append(JsonResultWriter.for_model(args.json, model))
    if args.heatmaps:
        from app.core.reports.heatmap_files import HeatmapFiles

        sinks.append(HeatmapFiles(args.heatmaps, args.colormap, args.opacity))
    if args.report:
        sinks.append(_report_sink(args.report, model, anonymise=args.anonymise))
    if args.audit:
        from app.core.reports.audit import CLI_CLASSIFY, AuditSink

        sinks.append(AuditSink(model, action=CLI_CLASSIFY))
    return sinks


def _report_sink(path: Path, model: ModelInfo, *, anonymise: bool) -> ResultSink:
    """The batch PDF; its folder is checked now so a typo fails before the run, not after it."""
    from app.core.reports.batch_pdf import PdfReportSink

    if path.suffix.lower() != ".pdf":
        raise OSError(0, "the report file name must end in .pdf", str(path))
    if not path.parent.resolve().is_dir():
        raise OSError(2, "no such folder", str(path.parent))
    return PdfReportSink(path, model, anonymise=anonymise)


def _run(args, classifier: Classifier, sinks: list[ResultSink], out, err) -> int:
    from tqdm import tqdm

    bar = tqdm(total=None, unit="file", file=err, disable=args.quiet or not _isatty(err), leave=False)

    def on_progress(progress) -> None:
        bar.total = progress.total
        bar.n = progress.done
        bar.refresh()

    def say(line: str) -> None:
        if bar.disable:
            print(line, file=out, flush=True)
        else:
            tqdm.write(line, file=out)

    threshold = getattr(args, "low_confidence", None)
    name = class_display_names(classifier.card).get
    if not args.quiet:
        say(header_line())
    pipeline = ResultPipeline([*sinks, ReleasePixels()])  # the CLI keeps nothing per scan
    readers = ReaderWarnings()
    stop = CancelToken()
    interrupted = False
    try:
        with readers, ctrl_c_stops(stop):
            for item in run_batch(args.paths, classifier, recursive=args.recursive, crop=args.crop,
                                  batch_size=args.batch_size, on_progress=on_progress, cancel=stop,
                                  plane=getattr(args, "plane", "axial"), volume_heatmaps=bool(args.heatmaps)):
                pipeline.write(item)
                if not args.quiet:
                    say(format_series(item, name) if isinstance(item, SeriesSummary)
                        else format_line(item, display_name=name, threshold=threshold))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        interrupted = interrupted or stop.cancelled
        summary = pipeline.close(interrupted=interrupted)
    _print_summary(summary, classifier, out)
    if readers.summary():
        print(readers.summary(), file=err)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.read and not summary.failed else EXIT_SOME_FAILED


@contextlib.contextmanager
def ctrl_c_stops(stop: CancelToken) -> Iterator[None]:
    """While inside: the first Ctrl+C cancels ``stop`` (the run ends after the batch in hand, and
    everything done so far is written); a second one raises KeyboardInterrupt at once.

    A flag, not an exception: a KeyboardInterrupt that lands in a finaliser or a library's clean-up is
    swallowed there, and the run would go on to the end. Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_ctrl_c(signum: int, frame: object) -> None:
        if stop.cancelled:
            raise KeyboardInterrupt
        stop.cancel()

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_summary(summary: RunSummary, classifier: Classifier, out) -> None:
    elapsed = summary.seconds
    rate = f", {summary.read / elapsed:.2f} scans/s" if elapsed > 0 and summary.read else ""
    print("", file=out)
    if summary.interrupted:
        print("Interrupted: the results so far have been written.", file=out)
    print(f"{summary.counts_line()} ({elapsed:.1f} s{rate}; {classifier.card.name} {classifier.card.version} "
          f"on {classifier.device})", file=out)
    if summary.classes:
        words = class_display_names(classifier.card)
        print("per class: " + ", ".join(f"{words[c]} {summary.classes.get(c, 0)}" for c in classifier.card.class_names),
              file=out)
    if not summary.scans:
        print("Nothing to classify: no image or DICOM files were found.", file=out)
    if summary.failures:
        print("Could not classify:", file=out)
        for path, reason in summary.failures:
            print(f"  {path}: {reason}", file=out)
    print("Research use only: not for diagnosis.", file=out)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def self_test(model: Path | None = None, *, out=None) -> int:
    """Loads the model and classifies the bundled sample; 0 when everything is consistent."""
    out = out or sys.stdout
    try:
        from app.core.scans.loading import load_scans

        classifier = Classifier(model)
        sample = resources_dir() / "samples" / SAMPLE_NAME
        scan = load_scans(sample)[0]
        prediction = classifier.classify([scan])[0]
        cams = prediction.heatmap()
        problems = []
        if not np.isclose(float(prediction.probabilities.sum()), 1.0, atol=1e-3):
            problems.append("probabilities do not sum to 1")
        if not np.isfinite(prediction.probabilities).all() or not np.isfinite(cams).all():
            problems.append("non-finite output")
        if cams.shape != scan.shape:
            problems.append("heatmap size differs from the scan")
        if problems:
            print("BrainLens self-test FAILED: " + "; ".join(problems), file=out)
            return 1
    except BrainLensError as exc:
        print(f"BrainLens self-test FAILED: {exc}", file=out)
        return 1
    print(f"BrainLens {app_version()} self-test passed: model {classifier.card.name} {classifier.card.version} "
          f"(sha256 {classifier.model_sha256[:12]}…) on {classifier.device}; sample "
          f"{sample.name}: {prediction.label} ({format_probability(prediction.confidence)})", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``brainlens classify ...`` (argv without the program name; a leading "classify" is optional)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "classify":
        argv = argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    if not args.paths and not args.from_pacs:
        parser.error("give files or folders to classify, or --from-pacs QUERY")
    return classify(args)


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["main", "classify", "self_test", "build_parser", "default_model_path"]
