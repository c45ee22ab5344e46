"""A volume classified slice by slice: which planes, which slices, and the per-volume summary.

The planes come from the model card (``training_planes``): a model trained on axial slices is
only asked about axial slices unless its card says it saw coronal and sagittal ones too. Slices
outside the head are skipped (``is_empty_slice``), not reported as findings. Each classified
slice's Grad-CAM (of its predicted class) is put back into the volume's voxel grid, so the maps
of all slices form a heatmap volume (``HeatmapVolume``) that can be shown in any plane and saved
as NIfTI in the input's geometry (``app.core.reports.nifti_heatmap``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from app.core.errors import ScanLoadError
from app.core.model.card import ModelCard
from app.core.model.inference import Prediction
from app.core.runs.batch import SeriesSummary
from app.core.scans.scan import Scan
from app.core.scans.volume import (
    PLANES,
    RADIOLOGICAL,
    Volume,
    is_empty_slice,
    plane_view,
)

PLANE_CHOICES = ("axial", "all")


def volume_planes(card: ModelCard, requested: str = "axial") -> tuple[str, ...]:
    """"axial": the axial plane (or the card's first plane when it was not trained on axial slices);
    "all": every plane the card says the model was trained on, in the order axial, coronal, sagittal."""
    trained = tuple(p for p in PLANES if p in card.training_planes)
    if requested == "all":
        return trained
    if requested in PLANES:
        return (requested,) if requested in trained else trained[:1]
    raise ValueError(f"unknown plane choice {requested!r}; expected one of {', '.join(PLANE_CHOICES)}")


def classifiable_slices(volume: Volume, planes: tuple[str, ...]) -> list[Scan]:
    """The scans to classify: every slice of every plane, except those outside the head."""
    scans = []
    for plane in planes:
        for index in range(volume.slice_count(plane)):
            scan = volume.slice_scan(plane, index)
            if not is_empty_slice(scan.display):
                scans.append(scan)
    if not scans:
        raise ScanLoadError("No slice of this volume shows anything brighter than its background; "
                            "it is empty or not an MRI.", volume.source)
    return scans


class HeatmapVolume:
    """Grad-CAM maps of single slices (screen layout, [0, 1]) put back into the canonical voxel grid;
    where several planes cover a voxel their maps are averaged."""

    def __init__(self, shape: tuple[int, int, int], voxel_size: tuple[float, float, float]) -> None:
        self.shape, self.voxel_size = tuple(shape), tuple(voxel_size)
        self._sum = np.zeros(self.shape, np.float32)
        self._count = np.zeros(self.shape, np.uint8)

    def add(self, plane: str, index: int, heat: np.ndarray, convention: str = RADIOLOGICAL) -> None:
        view = plane_view(plane, convention)
        rows, cols = self.shape[view.row_axis], self.shape[view.col_axis]
        heat = np.asarray(heat, np.float32)
        if heat.shape != (rows, cols):
            import cv2

            heat = cv2.resize(heat, (cols, rows), interpolation=cv2.INTER_LINEAR)
        if view.flip_rows:
            heat = heat[::-1]
        if view.flip_cols:
            heat = heat[:, ::-1]
        rest = [a for a in range(3) if a != view.slice_axis]
        if rest.index(view.row_axis) != 0:
            heat = heat.T
        where: list[slice | int] = [slice(None)] * 3
        where[view.slice_axis] = int(index)
        self._sum[tuple(where)] += heat
        self._count[tuple(where)] += 1

    def result(self) -> np.ndarray:
        """The heatmap volume (float32, canonical axes, 0 where no slice was classified)."""
        return np.divide(self._sum, np.maximum(self._count, 1), dtype=np.float32)


@dataclass(eq=False)
class VolumeSummary(SeriesSummary):
    """Yielded after the last slice of a volume; ``top_slice_index`` is in ``top_plane``.

    ``profiles`` holds, per plane, one P(tumour) per slice (None: skipped or not assessed), the
    curve the GUI and the PDF draw. ``heatmap`` (canonical grid) and ``volume`` are set when the run
    was asked to keep heatmap volumes.
    """

    planes: tuple[str, ...] = ()
    top_plane: str | None = None
    skipped: int = 0  # slices outside the head
    profiles: dict[str, list[float | None]] = field(default_factory=dict)
    voxel_size: tuple[float, float, float] | None = None
    notes: tuple[str, ...] = ()
    heatmap: np.ndarray | None = field(default=None, repr=False)
    volume: Volume | None = field(default=None, repr=False)
    kind: str = "volume"


@dataclass
class VolumeProgress:
    """What a run gathers about one volume while its slices come back."""

    planes: tuple[str, ...]
    keep_heatmap: bool = False
    volume: Volume | None = None
    heatmap: HeatmapVolume | None = None
    results: list[tuple[str, int, str, Prediction | None]] = field(default_factory=list)  # plane, index, label, prediction

    def add(self, scan: Scan | None, plane: str | None, index: int | None, label: str,
            prediction: Prediction | None) -> None:
        if scan is not None and self.volume is None:
            self.volume = scan.volume
        if plane is None or index is None:
            return
        self.results.append((plane, index, label, prediction))
        if self.keep_heatmap and prediction is not None and self.volume is not None:
            if self.heatmap is None:
                self.heatmap = HeatmapVolume(self.volume.shape, self.volume.voxel_size)
            self.heatmap.add(plane, index, prediction.heatmap())


def summarise_volume(progress: VolumeProgress, path, label: str, failed: int, series_uid: str | None,
                     patient: str | None = None) -> VolumeSummary:
    """The per-volume summary, counted as a series is (``slice_count`` = slices tried = classified + not
    assessed + failed; empty slices are counted apart in ``skipped``), with the one top-slice rule and
    the P(tumour) curve of each plane."""
    from app.core.model.verdict import NOT_ASSESSED, top_slice

    volume = progress.volume
    predicted = [(plane, i, lab, p) for plane, i, lab, p in progress.results if p is not None]
    assessed = [p for *_, p in predicted if p.assessed]
    counts = Counter(p.predicted_class for p in assessed)
    majority = (counts.most_common(1)[0][0] if counts else NOT_ASSESSED) if predicted else None
    top = top_slice([p for *_, p in progress.results])
    top_item = progress.results[top[0]] if top else None
    top_prediction = top_item[3] if top_item else None
    profiles: dict[str, list[float | None]] = {}
    total = 0
    for plane in progress.planes:
        count = volume.slice_count(plane) if volume is not None else 0
        total += count
        profiles[plane] = [None] * count
    for plane, i, _, p in predicted:
        if plane in profiles and 0 <= i < len(profiles[plane]) and p.assessed:
            profiles[plane][i] = p.p_tumour
    return VolumeSummary(
        path=path,
        label=label,
        slice_count=len(progress.results) + (failed if not progress.results else 0),
        classified=len(assessed),
        failed=failed,
        top_slice_index=top_item[1] if top_item else None,
        top_slice_label=top_item[2] if top_item else None,
        top_p_tumour=top[1] if top and top_prediction is not None and top_prediction.p_tumour is not None else None,
        majority_class=majority,
        class_counts=dict(counts),
        series_uid=series_uid,
        not_assessed=len(predicted) - len(assessed),
        patient=patient,
        planes=progress.planes,
        top_plane=top_item[0] if top_item else None,
        skipped=max(0, total - len(progress.results)) if volume is not None else 0,
        profiles=profiles,
        voxel_size=volume.voxel_size if volume is not None else None,
        notes=volume.notes if volume is not None else (),
        heatmap=progress.heatmap.result() if progress.heatmap is not None else None,
        volume=volume if progress.keep_heatmap else None,
    )
