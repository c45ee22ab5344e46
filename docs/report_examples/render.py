"""Renders the example reports shown in docs/report_examples/ (PDF pages as PNG).

    .venv/bin/python docs/report_examples/render.py [--model FILE] [--dpi 80]

Input: the MNI ICBM152 template (shipped in nilearn) written as a 20-slice DICOM series for a
fictitious patient "Doe^Jane" (not a real person), plus the bundled sample PNG and two bad files
for the batch report. Model: the default model when built (`make model`), else the tiny test model.
Needs poppler-utils (pdftoppm) for the PNG pages.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from app.core.model import gradcam  # noqa: E402
from app.core.runs.batch import BatchItem, run_batch  # noqa: E402
from app.core.model.identity import ModelInfo  # noqa: E402
from app.core.model.inference import Classifier, default_model_path  # noqa: E402
from app.core.reports.batch_pdf import write_batch_report  # noqa: E402
from app.core.reports.pdf import write_scan_report, write_series_report  # noqa: E402
from app.core.reports.results_io import write_csv  # noqa: E402
from tests import mri_data  # noqa: E402

HERE = Path(__file__).resolve().parent


def _model(path: Path | None, work: Path) -> Path:
    if path is not None:
        return path
    default = default_model_path()
    if default.exists():
        return default
    from tests.model_fixtures import build_tiny_model

    return build_tiny_model(work / "tiny.onnx")


def _pages(pdf: Path, dpi: int) -> list[Path]:
    prefix = HERE / pdf.stem
    for old in HERE.glob(f"{pdf.stem}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True)
    return sorted(HERE.glob(f"{pdf.stem}-*.png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--dpi", type=int, default=80)
    parser.add_argument("--keep-pdf", action="store_true", help="also copy the PDFs next to the PNGs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        series_dir = work / "batch" / "MR_T1_AX"
        mri_data.write_dicom_series(series_dir, range(40, 140, 5))
        shutil.copy(REPO / "resources" / "samples" / "mni_axial_z90.png", work / "batch")
        (work / "batch" / "notes.jpg").write_text("not an image")
        gradient = np.tile(np.linspace(0, 255, 256).astype(np.uint8), (256, 1))
        Image.fromarray(gradient).save(work / "batch" / "test_pattern.png")  # not a brain: not assessed
        good = next(series_dir.glob("*.dcm")).read_bytes()
        (work / "batch" / "copy_cut_short.dcm").write_bytes(good[: len(good) // 3])

        classifier = Classifier(_model(args.model, work), device="cpu")
        info = ModelInfo.from_classifier(classifier)
        items = list(run_batch([work / "batch"], classifier))
        write_csv(items, work / "results.csv", classifier.card.class_names, classifier.model_sha256)
        series = [i for i in items if isinstance(i, BatchItem) and i.ok and i.slice_index is not None]
        series.sort(key=lambda i: i.slice_index)
        key = series[len(series) // 2]  # a mid-brain slice for the single-scan example
        odd = next(i for i in items if isinstance(i, BatchItem) and i.ok and not i.prediction.assessed)
        overlay = gradcam.overlay(key.scan.display, key.prediction.heatmap(), opacity=0.4)
        pdfs = [
            write_scan_report(work / "scan_report.pdf", key.scan, key.prediction, model_info=info,
                              overlay_rgb=overlay),
            write_scan_report(work / "scan_report_anonymised.pdf", key.scan, key.prediction,
                              model_info=info, overlay_rgb=overlay, anonymise=True),
            write_scan_report(work / "scan_report_not_assessed.pdf", odd.scan, odd.prediction,
                              model_info=info),
            write_series_report(work / "series_report.pdf", [i.scan for i in series],
                                [i.prediction for i in series], model_info=info),
            write_batch_report(work / "batch_report.pdf", items, model_info=info),
        ]
        for pdf in pdfs:
            pages = _pages(pdf, args.dpi)
            print(f"{pdf.name}: {len(pages)} page(s), {pdf.stat().st_size // 1024} KiB")
            if args.keep_pdf:
                shutil.copy(pdf, HERE / pdf.name)
        print(f"model: {info.name} {info.version} ({classifier.device}); CSV rows match the PDFs: "
              f"{work / 'results.csv'} (temporary)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
