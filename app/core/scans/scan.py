"""What a loaded scan is: pixels, the display-ready image the model sees, and metadata kept apart.

Patient metadata never travels inside the pixel arrays and never appears in ``repr`` (so it does
not leak into logs); ``ScanMetadata.anonymised()`` returns a copy without identifiers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

# Fields that identify a patient, a visit or an institution: cleared by ``anonymised()``.
# Modality, descriptions, sex and pixel spacing stay: a report needs them and they identify no one.
IDENTIFYING_FIELDS = (
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "study_date",
    "institution",
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
)


@dataclass(frozen=True)
class ScanMetadata:
    """What a report needs to know about a scan. All optional: a PNG has none of it."""

    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: str | None = None  # DICOM DA, "YYYYMMDD"
    patient_sex: str | None = None  # "F", "M", "O"
    study_date: str | None = None  # DICOM DA, "YYYYMMDD"
    study_description: str | None = None
    series_description: str | None = None
    modality: str | None = None  # "MR", "CT", ...; None for plain images
    pixel_spacing: tuple[float, float] | None = None  # (row, column) spacing in mm
    image_plane: str | None = None  # "axial", "coronal", "sagittal" or "oblique" (DICOM orientation)
    institution: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None

    def anonymised(self) -> ScanMetadata:
        """A copy with every identifying field (``IDENTIFYING_FIELDS``) set to None."""
        return replace(self, **{name: None for name in IDENTIFYING_FIELDS})

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:  # never print identifiers into logs
        shown = {
            f.name: ("<hidden>" if f.name in IDENTIFYING_FIELDS and getattr(self, f.name) else getattr(self, f.name))
            for f in fields(self)
        }
        return "ScanMetadata(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


@dataclass(eq=False)
class Scan:
    """One 2-D image ready to show and classify.

    pixels
        float32 HxW (grey) or HxWx3 (RGB): stored values after the Modality LUT (e.g. rescale
        slope/intercept), i.e. physical units for CT, scanner units for MR, 0..255/65535 for images.
    display
        uint8 HxW or HxWx3: after the VOI window (and MONOCHROME1 inversion, optional brain crop).
        This is what a clinician sees and what the model is fed.
    frame
        0-based frame number in a multi-frame file (None for single-frame files); ``frame_count``
        is the number of frames in that file.
    slice_index
        0-based position in its series after geometric sorting; ``series_length`` slices in all.
        For a slice of a volume: its index in ``plane`` (canonical order: left→right,
        posterior→anterior, inferior→superior).
    window
        (centre, width) applied to ``pixels`` to make ``display``; None when none was applied
        (8-bit images, RGB).
    file_sha256
        SHA-256 of the source file's bytes (for audit trails).
    """

    source: Path
    pixels: np.ndarray = field(repr=False)
    display: np.ndarray = field(repr=False)
    metadata: ScanMetadata = field(default_factory=ScanMetadata, repr=False)
    frame: int | None = None
    slice_index: int | None = None
    series_uid: str | None = field(default=None, repr=False)
    series_length: int | None = None
    window: tuple[float, float] | None = None
    file_sha256: str = ""
    frame_count: int | None = None
    cropped: bool = False
    inverted: bool = False  # MONOCHROME1: display = 255 - window(pixels); re-windowing must invert too
    plane: str | None = None  # a volume's slice: the plane it was cut in ("axial", "coronal", "sagittal")
    volume: Any = field(default=None, repr=False, compare=False)  # that volume (app.core.scans.volume.Volume)

    def __post_init__(self) -> None:
        self.source = Path(self.source)

    @property
    def label(self) -> str:
        """Short human name, e.g. "IM0003.dcm — slice 4/20" or "multi.dcm — frame 2/8"."""
        name = Path(self.source).name
        parts = []
        if self.slice_index is not None:
            total = f"/{self.series_length}" if self.series_length else ""
            parts.append(f"{self.plane + ' ' if self.plane else ''}slice {self.slice_index + 1}{total}")
        if self.frame is not None:
            total = f"/{self.frame_count}" if self.frame_count else ""
            parts.append(f"frame {self.frame + 1}{total}")
        return f"{name} — {', '.join(parts)}" if parts else name

    @property
    def is_rgb(self) -> bool:
        return self.display.ndim == 3

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the display image."""
        return int(self.display.shape[0]), int(self.display.shape[1])

    def with_window(self, centre: float, width: float) -> Scan:
        """The same grey scan displayed through another window (MONOCHROME1 stays inverted).
        Colour scans have no window and are returned unchanged."""
        from app.core.scans.windowing import apply_window, invert

        if self.pixels.ndim != 2:
            return self
        display = apply_window(self.pixels, centre, width)
        return replace(self, display=invert(display) if self.inverted else display, window=(float(centre), float(width)))

    def anonymised(self) -> Scan:
        """The same scan with ``metadata.anonymised()`` (pixels are shared, not copied)."""
        return replace(self, metadata=self.metadata.anonymised(), series_uid=None)
