"""The three-plane view: a NIfTI file and a sagittal DICOM series dropped on the window (tiny model)."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from tests import volume_data  # noqa: E402
from tests.test_ui_window import TIMEOUT, drop, wait_classified  # noqa: E402
from tests.ui_fixtures import dialogs, no_dangling_workers, settings_store, tiny_model, window  # noqa: E402


@pytest.fixture(scope="module")
def nifti_file(tmp_path_factory) -> Path:
    return volume_data.small_mni(tmp_path_factory.mktemp("vol") / "study.nii.gz", range(0, 189, 12), step=4,
                                 axcodes=("L", "P", "S"))


def test_dropped_nifti_opens_in_three_linked_planes_with_its_heatmap(qtbot, window, nifti_file):
    drop(window, [nifti_file])
    wait_classified(qtbot, window)
    panel = window.volume_panel
    assert window.page.currentWidget() is panel and panel.volume is not None
    assert len(window.view.scans) == 12 and {s.plane for s in window.view.scans} == {"axial"}
    assert "50 × 59 × 16 voxels of 4 × 4 × 12 mm" in panel.info.text()
    assert sum(v is not None for v in panel.profile) == sum(p.assessed for p in window.view.predictions.values())
    heat = panel.heat_volume()
    assert heat.shape == panel.volume.shape and heat.max() > 0
    # the overlay changes what the panes show; switching it off shows the plain slices
    pane = panel.panes["coronal"]
    with_map = pane.image().copy()
    panel.show_heatmap.setChecked(False)
    assert pane.image() != with_map

    # a click in the sagittal pane moves the crosshair: the axial and coronal panes follow it
    sagittal = panel.panes["sagittal"]
    before = list(panel.cursor)
    qtbot.mouseClick(sagittal, Qt.MouseButton.LeftButton, pos=QPoint(sagittal.width() // 3, sagittal.height() // 2))
    assert panel.cursor[0] == before[0] and panel.cursor[1:] != before[1:]
    # the wheel scrolls one pane's slices; the slider follows
    panel.move_slice("coronal", 3)
    assert panel.sliders["coronal"].value() == panel.cursor[1]
    # the slice view follows the axial crosshair (it holds only slices inside the head)
    panel.set_slice("axial", 5)
    assert window.view.current_scan().slice_index == 5
    panel.back.click()  # the switch between the slice view and the three planes
    assert window.page.currentWidget() is not panel and window.planes_button.isVisible()
    window.planes_button.click()
    assert window.page.currentWidget() is panel


def test_sagittal_dicom_series_opens_as_a_volume_in_neurological_convention(qtbot, window, tmp_path):
    data = np.asarray(nibabel.load(volume_data.mni_path()).dataobj)[::8, ::6, ::8]
    volume_data.write_sagittal_series(tmp_path / "SAG", data, (8.0, 6.0, 8.0))
    window.convention_action.setChecked(True)
    drop(window, [tmp_path / "SAG"])
    wait_classified(qtbot, window)
    panel = window.volume_panel
    assert panel.volume.format == "dicom" and panel.convention == "neurological"
    assert panel.panes["axial"].orientation_label("left") == "L"
    assert not any("not_axial_plane" in p.ood_reasons for p in window.view.predictions.values())


def test_a_plain_image_after_a_volume_hides_the_three_plane_switch(qtbot, window, nifti_file, mni_png):
    drop(window, [nifti_file])
    qtbot.waitUntil(lambda: window.volume_panel.volume is not None, timeout=TIMEOUT)
    drop(window, [mni_png])
    qtbot.waitUntil(lambda: window.volume_panel.volume is None, timeout=TIMEOUT)
    assert not window.planes_button.isVisible() and window.page.currentWidget() is not window.volume_panel


def test_a_volume_in_a_batch_gets_its_summary_row_and_opens_from_it(qtbot, window, nifti_file, mni_png, tmp_path):
    import shutil

    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(nifti_file, folder / "study.nii.gz")
    shutil.copy(mni_png, folder / "slice.png")
    window.open_paths([folder])
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        pass
    rows = window.batch.model.rows
    assert not [r for r in rows if r.class_name == "Error"]  # a volume is a summary, not a failed scan
    volume = next(r for r in rows if r.is_summary)
    assert volume.label == "▸ Volume: study.nii.gz" and "of 12 slices" in volume.position
    assert volume.flags.startswith("highest P(tumour) at axial slice ") or volume.slice_index is None
    assert window.batch.status.text().startswith("Done: 13 scans: ")
    window.batch.row_activated.emit(volume)
    wait_classified(qtbot, window)
    assert window.page.currentWidget() is window.volume_panel and len(window.view.scans) == 12
    shown = window.view.scans[window.view.index]
    assert shown.slice_index == volume.slice_index  # the row's top slice, in the slice view and its result ...
    assert window.volume_panel.cursor[2] == shown.slice_index  # ... and in the three-plane view's axial pane
