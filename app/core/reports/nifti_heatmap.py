"""A heatmap volume saved as NIfTI in the input's geometry, so it opens as an overlay of the scan.

The map (built in the canonical voxel grid, ``app.core.runs.volumes.HeatmapVolume``) is put back
into the file's own voxel order and saved with the file's affine (sform and qform), so 3D Slicer,
ITK-SNAP or FSLeyes lay it exactly over the original volume. Values are the Grad-CAM of each
slice's predicted class, 0..1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SUFFIX = "_gradcam.nii.gz"


def heatmap_name(source: Path) -> str:
    """"study.nii.gz" → "study_gradcam.nii.gz" (a DICOM series is named after its folder)."""
    name = Path(source).name
    for ending in (".nii.gz", ".nii", ".mgz", ".mgh", ".dcm"):
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return (name or "volume") + SUFFIX


def write_heatmap_nifti(path: str | Path, heatmap: np.ndarray, volume) -> Path:
    """Writes ``heatmap`` (canonical grid of ``volume``) in ``volume``'s source geometry."""
    import nibabel

    data = np.asarray(volume.to_source_axes(heatmap), dtype=np.float32)
    image = nibabel.Nifti1Image(data, volume.source_affine)
    image.set_sform(volume.source_affine, code=1)
    image.set_qform(volume.source_affine, code=1)
    image.header["descrip"] = b"BrainLens Grad-CAM, research use only"
    image.header["cal_min"], image.header["cal_max"] = 0.0, 1.0
    path = Path(path)
    nibabel.save(image, str(path))
    return path
