"""Grad-CAM files as a result sink: one overlay PNG per assessed scan (``--heatmaps DIR``); a scan
that is not assessed gets none, as the GUI draws none for it unless asked.

A scan gets its predicted class's heatmap over the scan; a volume gets one ``<name>_gradcam.nii.gz``
heatmap volume in the input's geometry instead (its slices get no PNG each). Names never repeat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.model import verdict
from app.core.runs.batch import BatchItem, SeriesSummary
from app.core.runs.volumes import VolumeSummary
from app.core.scans.volume import Volume


class HeatmapFiles:
    """Writes the heatmap file(s) of each result into ``folder``; ``written`` counts them."""

    def __init__(self, folder: str | Path, colormap: str = "inferno", opacity: float = 0.4) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.colormap, self.opacity = colormap, opacity
        self._used: set[str] = set()
        self.written = 0

    def _name_for(self, item: BatchItem, label: str) -> str:
        """"<file>[_sliceNNN][_frameNNN]_<label>.png", numbered when the name is taken."""
        parts = [item.path.stem]
        if item.slice_index is not None:
            parts.append(f"slice{item.slice_index + 1:03d}")
        if item.frame is not None:
            parts.append(f"frame{item.frame + 1:03d}")
        parts.append(label.replace(" ", "-"))
        name, n = "_".join(parts), 1
        while f"{name}.png" in self._used:
            n += 1
            name = f"{'_'.join(parts)}_{n}"
        self._used.add(f"{name}.png")
        return f"{name}.png"

    def write(self, item: BatchItem | SeriesSummary) -> None:
        if isinstance(item, VolumeSummary):
            if item.heatmap is not None and item.volume is not None:
                self._write_volume(item, item.heatmap, item.volume)
            return
        if not isinstance(item, BatchItem) or item.prediction is None or item.scan is None or item.plane:
            return
        if not verdict.is_assessed(item.prediction):  # a map would suggest a class it was not given (as in the GUI)
            return
        from PIL import Image

        from app.core.model.gradcam import overlay

        picture = overlay(item.scan.display, item.prediction.heatmap(), self.opacity, self.colormap)
        Image.fromarray(picture).save(self.folder / self._name_for(item, item.prediction.label))
        self.written += 1

    def _write_volume(self, summary: VolumeSummary, heatmap: np.ndarray, volume: Volume) -> None:
        from app.core.reports.nifti_heatmap import heatmap_name, write_heatmap_nifti

        named_after = summary.path.parent if volume.format == "dicom" else summary.path  # a series: its folder
        write_heatmap_nifti(self.folder / self._unique(heatmap_name(named_after)), heatmap, volume)
        summary.heatmap = summary.volume = None  # the run keeps nothing per volume once written
        self.written += 1

    def _unique(self, name: str) -> str:
        stem, n = name, 1
        while name in self._used:
            n += 1
            name = stem.replace("_gradcam.", f"_{n}_gradcam.")
        self._used.add(name)
        return name

    def close(self, summary: object) -> None:
        pass
