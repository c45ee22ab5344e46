"""Screenshots of the three-plane view of a volume, for the README and for looking at.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots_volume.py

Writes a NIfTI of the MNI template at 2 mm (tests.volume_data) and a DICOM series of it acquired
sagittally, drops them on the window one after the other, waits until every axial slice is
classified and saves docs/screenshots/12-volume-three-planes.png (the NIfTI, its heatmap in every
plane) and 13-volume-sagittal-dicom.png (the DICOM series, neurological convention).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.screenshots import model_option, open_window, save, wait_until  # noqa: E402


def drop(window, path: Path) -> None:
    """A real drop event with the file's URL, as a file manager sends it."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def main(argv: list[str] | None = None) -> int:
    model = model_option(argv, __doc__)

    import nibabel
    import numpy as np

    from tests import volume_data

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nifti = volume_data.small_mni(folder / "mni_2mm.nii.gz", range(20, 170, 3), step=2)
        canonical = np.asarray(nibabel.as_closest_canonical(nibabel.load(nifti)).dataobj)
        volume_data.write_sagittal_series(folder / "T1 SAG 3D", canonical[::2, :, :], (4.0, 2.0, 3.0))
        app, window = open_window(folder, model)

        def all_classified() -> bool:
            return bool(window.view.scans) and len(window.view.predictions) == len(window.view.scans)

        drop(window, nifti)
        wait_until(app, lambda: window.volume_panel.volume is not None and all_classified(), 600)
        panel = window.volume_panel
        best = max(range(len(panel.profile)), key=lambda i: panel.profile[i] or -1.0)
        panel.set_slice("axial", best)
        wait_until(app, lambda: True)
        save(window, "12-volume-three-planes")

        window.convention_action.setChecked(True)
        drop(window, folder / "T1 SAG 3D")
        wait_until(app, lambda: window.volume_panel.volume is not None and window.volume_panel.volume.format == "dicom"
                   and all_classified(), 600)
        wait_until(app, lambda: True)
        save(window, "13-volume-sagittal-dicom")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
