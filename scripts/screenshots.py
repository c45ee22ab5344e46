"""Screenshots of the main states of the BrainLens window, for the README and for looking at.

Run under a virtual X server (a real window, real fonts)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py

It writes a 20-slice DICOM series of the MNI template (tests.mri_data) and a small batch folder
into a temporary directory, opens them with the default model (``--model`` to choose another;
without any model it uses the tiny test model and says so), and saves PNGs into docs/screenshots/:
01-empty, 02-series, 03-class-map, 04-batch, 05-about-model, 06-settings, 07-1280x800 (the series
on a laptop-sized window, scan information shown, to check nothing is clipped), 08-1280x800-batch
(the same with the batch table open), 09-reading-aids (corner annotations, a custom window after a
right-drag, a ruler in mm, the heatmap's colour bar), 10-not-assessed (a photo: no class map until a class
is picked), 11-dicom-tags (the tag browser, searched). It also prints the time
from opening to the first result shown, for a JPG and for the series.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "docs" / "screenshots"
SIZE = (1480, 920)
SMALL = (1280, 800)


def wait_until(app, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def save(widget, name: str) -> Path:
    path = OUT / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(path))
    print(f"saved {path.relative_to(REPO)}")
    return path


def make_data(folder: Path) -> tuple[Path, Path, Path]:
    from PIL import Image

    from tests import mri_data

    series = folder / "MNI-T1-series"
    mri_data.write_dicom_series(series, range(40, 140, 5))
    jpg = folder / "axial_z80.jpg"
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(80))).convert("RGB").save(jpg, quality=95)
    batch = folder / "clinic-export"
    batch.mkdir()
    for z in range(50, 130, 6):
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(batch / f"axial_z{z:03d}.png")
    for x in (70, 100):
        Image.fromarray(mri_data.to_uint8(mri_data.sagittal_slice(x))).save(batch / f"sagittal_x{x:03d}.png")
    mri_data.write_dicom_series(batch / "series", range(60, 120, 10), seed=3)
    (batch / "scan_notes.jpg").write_bytes(b"this is not an image")
    return series, jpg, batch


def make_photo(path: Path) -> None:
    """A colour picture, as a user might drop by mistake (not an MRI: never assessed)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:360, 0:480]
    picture = np.stack([(x * 255 // 480), (y * 255 // 360), np.full_like(x, 160)], axis=2).astype(np.uint8)
    Image.fromarray(picture).save(path)


def reading_aids(app, window) -> None:
    """A right-drag (custom window) and a ruler drawn with the mouse on the scan pane."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest

    pane = window.viewer.scan_pane
    viewport = pane.viewport()
    centre = viewport.rect().center()
    QTest.mousePress(viewport, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre)
    QTest.mouseMove(viewport, centre + QPoint(-40, 20))
    QTest.mouseRelease(viewport, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre + QPoint(-40, 20))
    start, end = pane.mapFromScene(QPointF(60, 100)), pane.mapFromScene(QPointF(140, 100))
    window.page.ruler_button.setChecked(True)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, end)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    window.page.ruler_button.setChecked(False)
    wait_until(app, lambda: True)


def choose_model(given: Path | None, folder: Path) -> Path:
    from app.core.model.inference import default_model_path

    if given is not None:
        return given
    if default_model_path().exists():
        return default_model_path()
    from tests.model_fixtures import build_tiny_model

    print("note: the default model is not built (make model); using the tiny test model")
    return build_tiny_model(folder / "tiny.onnx")


def open_window(folder: Path, model: Path | None):
    """The themed application and its main window, shown at SIZE with its settings in ``folder``,
    once the model (``choose_model``) is loaded."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings_store=store, model_path=choose_model(model, folder))
    window.resize(*SIZE)
    window.show()
    wait_until(app, lambda: window.classifier is not None, 120)
    return app, window


def model_option(argv: list[str] | None, doc: str) -> Path | None:
    """The --model a screenshot script was given (None: choose_model picks one)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    return parser.parse_args(argv).model


def main(argv: list[str] | None = None) -> int:
    model = model_option(argv, __doc__)

    from PySide6.QtCore import Qt

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        series, jpg, batch = make_data(folder)
        app, window = open_window(folder, model)
        save(window, "01-empty")

        window.open_paths([jpg])
        wait_until(app, lambda: 0 in window.view.predictions)
        print(f"JPG: first result shown {window.timings['first_result_s']:.3f} s after opening "
              f"(loaded in {window.timings['loaded_s']:.3f} s)")

        window.open_paths([series])
        wait_until(app, lambda: len(window.view.scans) == 20 and window.view.index in window.view.predictions)
        print(f"series (20 slices): first result shown {window.timings['first_result_s']:.3f} s after "
              f"opening (loaded in {window.timings['loaded_s']:.3f} s)")
        wait_until(app, lambda: len(window.view.predictions) == 20)
        print(f"series: all 20 slices classified {time.perf_counter() - window._opened_at:.3f} s after opening")
        window.view.jump_to_summary()
        wait_until(app, lambda: True)
        save(window, "02-series")

        prediction = window.view.predictions[window.view.index]
        other = max((i for i in range(len(prediction.class_names)) if i != prediction.predicted_index),
                    key=lambda i: float(prediction.probabilities[i]))
        window.results.select_class(other)
        window.results.heatmap.colormap.setCurrentText("jet")
        window.viewer.zoom_by(1.6)
        wait_until(app, lambda: True)
        save(window, "03-class-map")
        window.results.select_class(None)
        window.results.heatmap.colormap.setCurrentText(window.settings.colormap)
        window.view.reset_view()

        window.open_paths([batch])
        wait_until(app, lambda: window.batch.model.rowCount() > 0 and window._batch_worker is None, 120)
        window.batch_dock.raise_()
        window.resizeDocks([window.batch_dock], [330], Qt.Orientation.Vertical)
        window.batch.table.sortByColumn(5, Qt.SortOrder.DescendingOrder)  # P(tumour)
        window.batch.table.selectRow(0)
        shown: list[bool] = []
        window.prediction_shown.connect(lambda: shown.append(True))
        window.batch.table.clicked.emit(window.batch.proxy.index(0, 0))
        wait_until(app, lambda: bool(shown))
        save(window, "04-batch")

        about = window.show_about_model()
        about.resize(680, 600)
        wait_until(app, lambda: about.isVisible())
        save(about, "05-about-model")
        about.close()

        settings = window.open_settings()
        wait_until(app, lambda: settings.isVisible())
        save(settings, "06-settings")
        settings.reject()

        window.batch_dock.hide()
        window.metadata_dock.show()
        window.open_paths([series])
        wait_until(app, lambda: len(window.view.scans) == 20 and len(window.view.predictions) == 20)
        window.resize(*SMALL)
        wait_until(app, lambda: (window.width(), window.height()) == SMALL)
        window.view.reset_view()
        wait_until(app, lambda: True)
        save(window, "07-1280x800")
        window.batch_dock.show()
        window.resizeDocks([window.batch_dock], [260], Qt.Orientation.Vertical)
        wait_until(app, lambda: True)
        save(window, "08-1280x800-batch")

        window.batch_dock.hide()
        window.resize(*SIZE)
        wait_until(app, lambda: (window.width(), window.height()) == SIZE)
        reading_aids(app, window)
        save(window, "09-reading-aids")

        photo = folder / "holiday_photo.png"
        make_photo(photo)
        window.open_paths([photo])
        wait_until(app, lambda: len(window.view.scans) == 1 and 0 in window.view.predictions)
        save(window, "10-not-assessed")

        window.open_paths([series])
        wait_until(app, lambda: len(window.view.scans) == 20 and len(window.view.predictions) == 20)
        tags = window.show_dicom_tags()
        tags.search.setText("0028")
        wait_until(app, lambda: tags.isVisible())
        save(tags, "11-dicom-tags")
        tags.close()

        window.close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
