"""NIfTI-1/2 (.nii, .nii.gz) and FreeSurfer MGH (.mgz, .mgh) files → ``Volume``, through nibabel.

The header is checked before any voxel is read, so a file that claims gigabytes of voxels, or a
truncated one, is refused with a reason instead of filling the memory or crashing: nibabel reads
exactly the bytes the header promises. Any data type is read as float32 after the file's scaling
(slope/intercept); a 4-D file gives its first volume and says so; NaN or infinite voxels are
refused (a volume holding them is damaged or a statistics map, not an MRI).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from app.core.errors import ScanLoadError
from app.core.scans.volume import Volume, from_array

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh")
MAX_VOXELS = 2**26  # 67 M voxels (512 x 512 x 256): 268 MB as float32, twice that while reoriented
NIFTI1_MAGICS = (b"n+1\0", b"ni1\0")
NIFTI2_MAGICS = (b"n+2\0", b"ni2\0")


def has_volume_suffix(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(suffix) for suffix in NIFTI_SUFFIXES)


def looks_like_volume(path: Path, head: bytes) -> bool:
    """True for a NIfTI header (plain or gzipped) or an MGH file (by name: it has no magic)."""
    if head[:2] == b"\x1f\x8b":  # gzip: .nii.gz or .mgz; the name says which
        return has_volume_suffix(path)
    if len(head) >= 348 and head[344:348] in NIFTI1_MAGICS:
        return True
    if len(head) >= 8 and head[4:8] in NIFTI2_MAGICS:
        return True
    return path.name.lower().endswith(".mgh") and len(head) >= 4


def load_volume(path: str | Path) -> Volume:
    """The file's volume in the canonical frame. Raises ``ScanLoadError`` with the reason."""
    path = Path(path)
    image = _open(path)
    shape = tuple(int(n) for n in image.shape)
    notes: list[str] = []
    _check_shape(shape, path)
    if len(shape) > 3 and int(np.prod(shape[3:])) > 1:
        notes.append(f"This file holds {int(np.prod(shape[3:]))} volumes (a time series or several "
                     "images); the first one is shown and classified.")
    index = (slice(None),) * min(3, len(shape)) + (0,) * max(0, len(shape) - 3)
    array = _read_voxels(image, index, path)
    while array.ndim < 3:
        array = array[..., np.newaxis]
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - finite.sum())
        raise ScanLoadError(f"This volume holds {bad} NaN or infinite voxel value(s); it is damaged or is "
                            "not an MRI (a statistics map?) and cannot be shown.", path)
    affine = np.asarray(image.affine, dtype=float)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise ScanLoadError("The volume's geometry (its affine) is missing or invalid, so its orientation "
                            "is unknown.", path)
    fmt = "mgh" if path.name.lower().endswith((".mgz", ".mgh")) else "nifti"
    return from_array(path, array, affine, fmt=fmt, notes=tuple(notes))


def _open(path: Path):
    import nibabel

    try:
        with _quiet_nibabel():  # nibabel logs the header fixes it makes; the user gets our reasons
            return nibabel.load(str(path), mmap=False)  # a memory map would keep the file open
    except FileNotFoundError as exc:
        raise ScanLoadError("This file or folder does not exist (it may have been moved or deleted).", path) from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ScanLoadError("The volume file is incomplete or its compression is damaged.", path) from exc
    except MemoryError as exc:
        raise ScanLoadError("There is not enough memory to open this volume.", path) from exc
    except Exception as exc:
        raise ScanLoadError(f"The volume's header is not valid ({_short(exc)}).", path) from exc


def _check_shape(shape: tuple[int, ...], path: Path) -> None:
    if not shape or any(n <= 0 for n in shape):
        raise ScanLoadError(f"The volume has no voxels (its header gives the size {shape}).", path)
    if len(shape) > 7:
        raise ScanLoadError(f"The volume has {len(shape)} dimensions; NIfTI allows at most 7.", path)
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    if voxels > MAX_VOXELS:
        raise ScanLoadError(f"The volume is too large to open ({' x '.join(map(str, shape[:3]))} voxels; "
                            f"at most {MAX_VOXELS:,} are read).", path)
    if len(shape) >= 3 and sorted(shape[:3])[1] < 2:
        raise ScanLoadError(f"The volume is not 3-D ({' x '.join(map(str, shape[:3]))} voxels): it has no "
                            "slices to show.", path)


def _read_voxels(image, index, path: Path) -> np.ndarray:
    dtype = image.get_data_dtype()
    if dtype.fields is not None or dtype.kind == "c":
        raise ScanLoadError(f"The volume stores {dtype} voxels (colour or complex values); BrainLens reads "
                            "grey-level volumes only.", path)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing values are refused just below
            array = np.asarray(image.dataobj[index], dtype=np.float32)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ScanLoadError("The volume file is incomplete or its compression is damaged.", path) from exc
    except MemoryError as exc:
        raise ScanLoadError("There is not enough memory to open this volume.", path) from exc
    except (OSError, ValueError) as exc:
        text = str(exc).lower()
        if any(word in text for word in ("expected", "read", "buffer", "size", "truncat", "eof", "shape")):
            raise ScanLoadError("The volume file is incomplete: it holds fewer voxels than its header "
                                "promises.", path) from exc
        raise ScanLoadError(f"The volume's voxels could not be read ({_short(exc)}).", path) from exc
    except Exception as exc:
        raise ScanLoadError(f"The volume's voxels could not be read ({_short(exc)}).", path) from exc
    return array


@contextmanager
def _quiet_nibabel():
    logger = logging.getLogger("nibabel.global")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
