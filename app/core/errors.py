"""User-facing exceptions of BrainLens.

Every message is written for a clinician reading it in a dialog or a batch report: it says what is
wrong with the input and, where there is one, what to do about it. Messages never contain patient
identifiers (names, IDs, birth dates): only file names, sizes and technical terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.scans.loading import LoadFailure


class BrainLensError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ScanLoadError(BrainLensError):
    """A file or folder could not be turned into scans. ``path`` is the offending path (may be None)."""

    default_message = "This file could not be opened as a scan."

    def __init__(self, message: str | None = None, path: str | Path | None = None) -> None:
        super().__init__(message or self.default_message)
        self.path = Path(path) if path is not None else None


class NotAnImageError(ScanLoadError):
    default_message = "This file is not an image or DICOM file."


class EmptyFileError(ScanLoadError):
    default_message = "The file is empty (0 bytes): it may not have finished copying or downloading."


class NoPixelDataError(ScanLoadError):
    default_message = (
        "The DICOM file has no image data (it may be a report or structured document)."
    )


class MissingDecoderError(ScanLoadError):
    """A compressed transfer syntax for which no decoder package is installed."""

    default_message = "The image is compressed in a format this installation cannot decode."

    def __init__(
        self,
        message: str | None = None,
        path: str | Path | None = None,
        *,
        syntax: str | None = None,
        packages: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, path)
        self.syntax = syntax
        self.packages = packages


class TruncatedFileError(ScanLoadError):
    default_message = (
        "The file is incomplete (it was probably cut short while copying or downloading)."
    )


class ImageTooLargeError(ScanLoadError):
    default_message = "The image is too large to open safely."


class EmptyFolderError(ScanLoadError):
    default_message = "The folder contains no images or DICOM files that could be opened."

    def __init__(self, message: str | None = None, path: str | Path | None = None,
                 failures: Sequence[LoadFailure] = ()) -> None:
        super().__init__(message, path)
        self.failures = list(failures)  # each file in the folder that could not be loaded, and why


class UnsupportedScanError(ScanLoadError):
    default_message = "This kind of scan is not supported."


class ModelLoadError(BrainLensError):
    """The classification model could not be loaded (missing file, bad card, runtime failure)."""


class PacsError(BrainLensError):
    """A PACS node could not be reached, refused us, or answered with an error (``app.core.network``)."""
