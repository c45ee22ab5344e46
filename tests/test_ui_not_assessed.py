"""A scan the out-of-distribution guard rejects shows no class figures anywhere in the GUI."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.model.inference import Prediction

pytest.importorskip("PySide6")

from tests.ui_fixtures import dialogs, no_dangling_workers, settings_store, tiny_model, window

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")
NAMES = {"glioma": "Glioma", "meningioma": "Meningioma", "notumor": "No tumour", "pituitary": "Pituitary tumour"}


def _prediction(assessed: bool) -> Prediction:
    probabilities = np.array([0.01, 0.97, 0.01, 0.01], dtype=np.float32)
    return Prediction(
        class_names=CLASSES, probabilities=probabilities, logits=np.log(probabilities), predicted_index=1,
        predicted_class="meningioma", confidence=0.97, p_tumour=0.99,
        cams=np.zeros((4, 15, 15), np.float32), embedding=np.zeros(8, np.float32),
        flags=() if assessed else ("out_of_distribution",), assessed=assessed,
        ood_reasons=() if assessed else ("asymmetric_outline",),
    )


def test_results_panel_hides_class_and_figures_when_not_assessed(qtbot):
    from app.ui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_classes(CLASSES, NAMES)
    panel.show_prediction(_prediction(assessed=False), NAMES, None)
    assert panel.title.text() == "Not assessed"
    assert "Meningioma" not in panel.title.text() + panel.subtitle.text()
    assert "97" not in panel.subtitle.text() and panel.p_tumour.text() == ""
    assert "sagittal" in panel.subtitle.text()  # the reason, in words
    assert all(value == 0 for value in panel.bar_values()) and all(text == "—" for text in panel.bar_texts())

    panel.show_prediction(_prediction(assessed=True), NAMES, None)
    assert panel.title.text() == "Meningioma" and "97.0 %" in panel.subtitle.text()


def test_batch_row_of_a_not_assessed_scan_has_no_class_or_confidence(tmp_path):
    from app.core.runs.batch import BatchItem
    from app.ui.batch_panel import row_from_item

    item = BatchItem(path=tmp_path / "x.png", label="x.png", status="ok", prediction=_prediction(False))
    row = row_from_item(item, NAMES)
    assert row.class_name == "Not assessed" and row.confidence is None and row.p_tumour is None


def test_window_names_no_class_for_a_not_assessed_scan(qtbot, window, tmp_path):
    from PIL import Image

    photo = np.random.default_rng(1).integers(0, 256, (200, 260, 3), dtype=np.uint8)  # colour: not an MRI
    Image.fromarray(photo).save(tmp_path / "photo.png")
    with qtbot.waitSignal(window.prediction_shown, timeout=20000):
        window.open_paths([tmp_path / "photo.png"])
    prediction = window.view.predictions[0]
    assert not prediction.assessed
    assert not window.viewer.overlay_pane.has_image()  # no class map unless the user picks a class
    assert window.results.title.text() == "Not assessed"
    window.results.select_class(1)  # asking for a class's map names that class only
    assert window.viewer.overlay_pane.corner_text("top_left") == "Grad-CAM: Meningioma (scan not assessed)"
