"""Path(s) → scans: the one entry point the GUI, the CLI and batch runs share.

``load_scans`` (one file) and ``load_folder`` (a folder, good scans plus the bad files with
reasons) for interactive use; ``iter_sources`` + ``load_source``/``iter_load`` for streaming
batch runs, where a source is one image file, one DICOM file, or one DICOM series (its files
grouped by SeriesInstanceUID from header-only reads and sorted along the slice normal).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

from app.core.scans import dicom, images, nifti
from app.core.scans.crop import brain_bbox
from app.core.errors import EmptyFileError, EmptyFolderError, NotAnImageError, ScanLoadError
from app.core.scans.scan import Scan
from app.core.scans.series import SliceHeader, group_series

SKIPPED_NAMES = frozenset({"dicomdir", "thumbs.db", "desktop.ini"})
NOT_FOUND = "This file or folder does not exist (it may have been moved or deleted)."


@dataclass(frozen=True)
class ScanSource:
    """One unit of loading: an image file, a DICOM file, or a DICOM series (files in slice order).

    kind is "image", "dicom", "series", "volume" (a NIfTI/MGH file, or a non-axial DICOM series
    with one geometry, rebuilt as a 3-D volume) or "unknown" (a file that is neither: loading it
    raises ``NotAnImageError``, so a batch reports it instead of silently skipping it).
    """

    kind: str
    paths: tuple[Path, ...]
    series_uid: str | None = None
    description: str | None = None

    @property
    def path(self) -> Path:
        return self.paths[0]

    @property
    def label(self) -> str:
        if self.kind == "volume" and len(self.paths) > 1:
            what = f'"{self.description}"' if self.description else "DICOM volume"
            return f"{self.path.parent.name}/ {what} ({len(self.paths)} slices)"
        if self.kind != "series":
            return self.path.name
        what = f'"{self.description}"' if self.description else "DICOM series"
        return f"{self.path.parent.name}/ {what} ({len(self.paths)} slices)"


@dataclass(frozen=True)
class LoadFailure:
    """A file that could not be loaded and why (``reason`` is the user-facing message)."""

    path: Path
    reason: str
    error: ScanLoadError | None = field(default=None, compare=False, repr=False)


@dataclass
class FolderLoad:
    scans: list[Scan]
    failures: list[LoadFailure]
    sources: list[ScanSource] = field(default_factory=list)


def load_scans(path: str | Path, *, crop: bool = False, crop_margin: int = 0) -> list[Scan]:
    """The scan(s) of one file (one per frame); a folder gives ``load_folder(path).scans``.

    Raises a specific ``ScanLoadError`` (never another exception type for bad input).
    """
    path = Path(path)
    if path.is_dir():
        return load_folder(path, crop=crop, crop_margin=crop_margin).scans
    if not path.exists():
        raise ScanLoadError(NOT_FOUND, path)
    return load_source(ScanSource(_sniff(path), (path,)), crop=crop, crop_margin=crop_margin)


def load_folder(
    path: str | Path, *, recursive: bool = True, crop: bool = False, crop_margin: int = 0
) -> FolderLoad:
    """Every loadable scan under a folder, and the files that failed with their reasons.

    Raises ``EmptyFolderError`` (with ``.failures``) when nothing at all could be loaded.
    """
    path = Path(path)
    if not path.exists():
        raise ScanLoadError(NOT_FOUND, path)
    result = FolderLoad(scans=[], failures=[])
    for source in iter_sources([path], recursive=recursive):
        result.sources.append(source)
        for item in iter_load(source, crop=crop, crop_margin=crop_margin):
            if isinstance(item, LoadFailure):
                result.failures.append(item)
            else:
                result.scans.append(item)
    if not result.scans:
        message = EmptyFolderError.default_message
        if result.failures:
            message = (f"None of the {len(result.failures)} file(s) in the folder could be opened "
                       f"as a scan (first problem: {result.failures[0].reason})")
        raise EmptyFolderError(message, path, result.failures)
    return result


def iter_sources(paths: str | Path | Iterable[str | Path], *, recursive: bool = True) -> Iterator[ScanSource]:
    """Sources under the given files/folders: images and unreadable files as they are found,
    then DICOM files grouped into series (header-only reads) in slice order.

    Files given explicitly are always yielded (an unknown one as kind "unknown"); inside
    folders, hidden files and files with other extensions (.txt, .pdf, ...) that are not
    images or DICOM are skipped silently.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    headers: list[SliceHeader] = []
    seen: set[Path] = set()  # a file named twice (itself and inside a given folder) loads once
    for given in map(Path, paths):
        candidates: Iterator[tuple[Path, bool]]  # (file, named explicitly)
        if given.is_dir():
            candidates = ((p, False) for p in _walk(given, recursive))
        else:
            candidates = iter([(given, True)])
        for file, explicit in candidates:
            key = file.resolve()
            if key in seen:
                continue
            seen.add(key)
            if not file.exists():
                yield ScanSource("unknown", (file,))
                continue
            kind = _sniff(file)
            if kind == "dicom":
                try:
                    headers.append(SliceHeader.from_dataset(file, dicom.read_dataset(file, stop_before_pixels=True)))
                except ScanLoadError:
                    yield ScanSource("dicom", (file,))  # loading it reports the specific error
            elif kind in ("image", "volume"):
                yield ScanSource(kind, (file,))
            elif explicit or file.suffix.lower() in dicom.DICOM_SUFFIXES | images.IMAGE_SUFFIXES or \
                    nifti.has_volume_suffix(file):
                yield ScanSource("unknown", (file,))
    for group in group_series(headers):
        kind = "series" if len(group.paths) > 1 else "dicom"
        if kind == "series" and is_volume_series(group):
            kind = "volume"
        yield ScanSource(kind, group.paths, group.series_uid, group.description)


def is_volume_series(group) -> bool:
    """A DICOM series acquired in another plane than axial (a sagittal 3-D T1, a coronal stack):
    it is rebuilt as a volume and resliced, instead of being classified slice by slice as stored."""
    from app.core.scans.volume_dicom import MIN_VOLUME_SLICES

    plane = dicom.image_plane(group.orientation) if group.orientation else None
    return plane not in (None, "axial") and group.sorted_by == "position" and len(group.paths) >= MIN_VOLUME_SLICES


def load_volume(source: ScanSource):
    """The ``app.core.scans.volume.Volume`` of a "volume" source (its file's SHA-256 recorded)."""
    from app.core.scans.volume_dicom import load_dicom_volume

    try:
        if len(source.paths) == 1 and _sniff(source.path) == "volume":
            volume = nifti.load_volume(source.path)
        else:
            volume = load_dicom_volume(source.paths)
    except ScanLoadError:
        raise
    except MemoryError as exc:
        raise ScanLoadError("There is not enough memory to open this volume.", source.path) from exc
    except Exception as exc:  # a bug or an exotic file must not crash the caller
        raise ScanLoadError(
            f"This volume could not be opened because of an unexpected problem ({type(exc).__name__}).", source.path
        ) from exc
    volume.file_sha256 = file_sha256(source.path)
    return volume


def volume_scans(volume, plane: str = "axial", *, skip_empty: bool = True) -> list[Scan]:
    """The slices of ``plane`` as scans; slices outside the head (``is_empty_slice``) are left out."""
    from app.core.scans.volume import is_empty_slice

    scans = (volume.slice_scan(plane, i) for i in range(volume.slice_count(plane)))
    return [s for s in scans if not (skip_empty and is_empty_slice(s.display))]


def load_source(
    source: ScanSource, *, crop: bool = False, crop_margin: int = 0, failures: list[LoadFailure] | None = None
) -> list[Scan]:
    """All scans of a source. A bad file raises its ``ScanLoadError``, unless ``failures`` is
    given: then bad slices of a series are appended there and the good slices returned (a source
    with no good scan at all still raises)."""
    scans: list[Scan] = []
    bad: list[LoadFailure] = []
    for item in iter_load(source, crop=crop, crop_margin=crop_margin):
        if isinstance(item, LoadFailure):
            bad.append(item)
        else:
            scans.append(item)
    if bad and (failures is None or not scans):
        raise bad[0].error or ScanLoadError(bad[0].reason, bad[0].path)
    if failures is not None:
        failures.extend(bad)
    return scans


def iter_load(source: ScanSource, *, crop: bool = False, crop_margin: int = 0) -> Iterator[Scan | LoadFailure]:
    """Scans of a source one file at a time (a long series never sits in memory at once);
    a file that fails becomes a ``LoadFailure`` and the rest go on. A volume gives its axial
    slices inside the head."""
    if source.kind == "volume":
        try:
            scans = volume_scans(load_volume(source))
            if not scans:
                raise ScanLoadError("No slice of this volume shows anything brighter than its background; it is "
                                    "empty or not an MRI.", source.path)
        except ScanLoadError as exc:
            yield LoadFailure(source.path, str(exc), exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug or an exotic file must not crash the caller
            error = ScanLoadError(f"This volume could not be opened because of an unexpected problem "
                                  f"({type(exc).__name__}).", source.path)
            yield LoadFailure(source.path, str(error), error)
            return
        for scan in scans:
            yield crop_scan(scan, crop_margin) if crop else scan
        return
    total = len(source.paths)
    for index, path in enumerate(source.paths):
        try:
            scans = _load_file(path, source.kind)
            digest = file_sha256(path)
        except ScanLoadError as exc:
            yield LoadFailure(path, str(exc), exc)
            continue
        for scan in scans:
            if source.kind == "series":
                scan = replace(scan, file_sha256=digest, slice_index=index, series_length=total)
            else:
                scan = replace(scan, file_sha256=digest)
            yield crop_scan(scan, crop_margin) if crop else scan


def crop_scan(scan: Scan, margin: int = 0) -> Scan:
    """The scan with display and pixels cropped to the brain (unchanged when none is found)."""
    box = brain_bbox(scan.display, margin)
    if box is None:
        return scan
    top, bottom, left, right = box
    return replace(scan, display=scan.display[top:bottom, left:right].copy(),
                   pixels=scan.pixels[top:bottom, left:right].copy(), cropped=True)


def file_sha256(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise ScanLoadError("The file could not be read (it may have been moved or be unreadable).", path) from exc


def _load_file(path: Path, kind: str) -> list[Scan]:
    if not path.exists():
        raise ScanLoadError(NOT_FOUND, path)
    if path.is_file() and path.stat().st_size == 0:
        raise EmptyFileError(path=path)
    kind = "dicom" if kind == "series" else kind if kind in ("image", "dicom") else _sniff(path)
    try:
        if kind == "dicom":
            return dicom.load_dicom(path)
        if kind == "image":
            return images.load_image(path)
    except ScanLoadError:
        raise
    except MemoryError as exc:
        raise ScanLoadError("There is not enough memory to open this image.", path) from exc
    except Exception as exc:  # a bug or an exotic file must not crash the caller
        raise ScanLoadError(
            f"This file could not be opened because of an unexpected problem ({type(exc).__name__}).", path
        ) from exc
    raise NotAnImageError(path=path)


def _sniff(path: Path) -> str:
    """"dicom", "image", "volume" or "unknown" from the file's first bytes (extensions can lie)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(352)
    except OSError:
        return "unknown"
    if head[128:132] == b"DICM":  # first: a DICOM preamble may itself look like a TIFF header
        return "dicom"
    if nifti.looks_like_volume(path, head):  # before images: a gzip header is no image either way
        return "volume"
    if images.looks_like_image(head):
        return "image"
    if dicom.looks_like_dicom(head):
        return "dicom"
    return "unknown"


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if not name.startswith(".") and name.lower() not in SKIPPED_NAMES:
                yield Path(root) / name
