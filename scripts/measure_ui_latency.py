"""Time from dropping a scan on the window to its class being shown, on the CPU.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/measure_ui_latency.py [--repeat 5] [--model M]

For a JPG and for a 20-slice DICOM series folder (MNI template, tests.mri_data) it sends a real
QDropEvent to the main window and measures, with ``time.perf_counter``, until the window has drawn
the first prediction (``MainWindow.prediction_shown``); the series' "all slices" time is also
shown. For comparison it times the model alone on the same image (``Classifier.predict``, one
image). Medians of ``--repeat`` runs; the 1-minute load average is printed because a busy machine
inflates every number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=0,
                        help="also batch a folder of this many PNGs and report the longest GUI stall")
    args = parser.parse_args(argv)

    from PIL import Image
    from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow
    from tests import mri_data

    app = QApplication.instance() or QApplication(sys.argv[:1])

    def wait(predicate, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError
            app.processEvents()
            time.sleep(0.001)

    shown: list[float] = []

    def drop(window, path: Path) -> float:
        shown.clear()
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier)
        start = time.perf_counter()
        window.dropEvent(event)
        wait(lambda: bool(shown))
        return shown[0] - start

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jpg = folder / "axial_z80.jpg"
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(80))).convert("RGB").save(jpg, quality=95)
        series = folder / "series"
        mri_data.write_dicom_series(series, range(40, 140, 5))
        store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings_store=store, model_path=args.model)
        window.show()
        window.prediction_shown.connect(lambda: shown.append(time.perf_counter()))
        wait(lambda: window.classifier is not None)
        classifier = window.classifier
        print(f"model: {classifier.card.name} on {classifier.device}; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")

        jpg_times, series_times, series_all, model_times = [], [], [], []
        for _ in range(args.repeat):
            jpg_times.append(drop(window, jpg))
            wait(lambda: len(window.view.predictions) == len(window.view.scans))
            display = window.view.scans[0].display
            start = time.perf_counter()
            classifier.predict([display])
            model_times.append(time.perf_counter() - start)
            started = time.perf_counter()
            series_times.append(drop(window, series))
            wait(lambda: len(window.view.scans) == 20 and len(window.view.predictions) == 20)
            series_all.append(time.perf_counter() - started)
        median = statistics.median
        print(f"JPG    drop → class shown: median {median(jpg_times):.3f} s  (runs: "
              f"{', '.join(f'{t:.2f}' for t in jpg_times)})")
        print(f"series drop → first class shown: median {median(series_times):.3f} s; all 20 slices: "
              f"median {median(series_all):.2f} s")
        print(f"model alone, one image: median {median(model_times):.3f} s")
        print(f"load average now {os.getloadavg()[0]:.1f}")
        if args.batch:
            measure_batch(app, window, folder, args.batch, wait)
        window.close()
    return 0


def measure_batch(app, window, folder: Path, count: int, wait) -> None:
    """Batches ``count`` PNGs while a 10 ms timer measures how long the GUI thread is ever blocked."""
    from PIL import Image
    from PySide6.QtCore import QElapsedTimer, QTimer

    from tests import mri_data

    batch = folder / "batch"
    batch.mkdir()
    for i in range(count):
        z = 40 + (i * 7) % 100
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(batch / f"scan{i:04d}.png")
    clock, gaps = QElapsedTimer(), []
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    start = time.perf_counter()
    finished: list[bool] = []
    window.batch_finished.connect(lambda: finished.append(True))
    window.open_paths([batch])
    wait(lambda: bool(finished), timeout_s=3600)
    timer.stop()
    elapsed = time.perf_counter() - start
    gaps.sort()
    print(f"batch of {count}: {window.batch.model.rowCount()} rows in {elapsed:.1f} s "
          f"({count / elapsed:.1f} scans/s); GUI timer gap median {gaps[len(gaps) // 2]} ms, "
          f"99th percentile {gaps[int(len(gaps) * 0.99)]} ms, max {gaps[-1]} ms")


if __name__ == "__main__":
    raise SystemExit(main())
