"""Writes the sample scans bundled with BrainLens (for ``brainlens --self-test`` and for trying the app).

Run ``python resources/samples/make_samples.py`` from the repository root (needs the dev extras:
nilearn ships the template inside its wheel, nothing is downloaded). The source is the MNI ICBM152
2009a T1 template, an average of many brains, so the samples belong to no patient; the DICOM headers
carry an obviously fictitious name and ID. Outputs (about 0.5 MB, committed):

- ``mni_axial_z90.png``: one axial slice, 8-bit greyscale.
- ``mni_series/IM000N.dcm``: five axial slices (z = 70..110) as a 16-bit MR DICOM series.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PNG_SLICE = 90
SERIES_SLICES = range(70, 111, 10)


def main(out: Path = HERE) -> list[Path]:
    sys.path.insert(0, str(REPO))
    from PIL import Image

    from tests import mri_data

    out.mkdir(parents=True, exist_ok=True)
    png = out / f"mni_axial_z{PNG_SLICE}.png"
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(PNG_SLICE))).save(png, optimize=True)
    series = out / "mni_series"
    shutil.rmtree(series, ignore_errors=True)
    files = mri_data.write_dicom_series(
        series,
        SERIES_SLICES,
        patient_name="Sample^Template",
        patient_id="SAMPLE-MNI152",
        series_description="T1 AX MNI152 template (sample)",
        shuffle_files=False,
    )
    return [png, *sorted(files)]


if __name__ == "__main__":
    for path in main():
        print(path.relative_to(REPO), path.stat().st_size, "bytes")
