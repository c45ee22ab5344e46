"""Plain image files (JPG, PNG, BMP, TIFF, GIF; 8- or 16-bit, grey or colour) → scans.

Pillow reads the header first, so an oversized image is refused before any pixel is decoded
(decompression-bomb guard). 16-bit colour PNG/TIFF, which Pillow reduces to 8 bits, are read
with OpenCV instead to keep their precision.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, ImageSequence

from app.core.errors import ImageTooLargeError, NotAnImageError, ScanLoadError, TruncatedFileError
from app.core.scans.scan import Scan, ScanMetadata
from app.core.scans.windowing import apply_window, full_range_window

MAX_PIXELS = 100_000_000  # per image (frame): 100 megapixels
MAX_FILE_PIXELS = 256_000_000  # all frames/pages of one file together (≈1.3 GB once decoded)
MAX_FRAMES = 2_000  # pages of a multi-page TIFF / GIF
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"})
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"GIF87a", b"GIF89a")


def looks_like_image(head: bytes) -> bool:
    """True when the first bytes of a file carry a known image signature."""
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def too_large_message(rows: int, cols: int, frames: int = 1, limit: int = MAX_PIXELS) -> str:
    size = f"{cols} × {rows} pixels" + (f" × {frames} frames" if frames > 1 else "")
    return (
        f"The image is too large to open safely ({size}; the limit is {limit // 1_000_000} "
        "megapixels per image). It may be damaged or not a medical image."
    )


def load_image(path: Path, *, max_pixels: int = MAX_PIXELS) -> list[Scan]:
    """One scan per page/frame of an image file. Raises a ``ScanLoadError`` subclass."""
    path = Path(path)
    # No warnings.catch_warnings() here: it is not thread-safe and batch runs load on a pool
    # (Pillow may warn for 89–100 MP images, which we still accept).
    try:
        with Image.open(path) as image:
            cols, rows = image.size
            frames = min(int(getattr(image, "n_frames", 1)), MAX_FRAMES)
            if rows * cols > max_pixels or rows * cols * frames > MAX_FILE_PIXELS:
                raise ImageTooLargeError(too_large_message(rows, cols, frames, max_pixels), path)
            if _is_16bit_colour(image):
                arrays = [_read_with_opencv(path)]
            else:
                arrays = [_to_array(page) for page in _pages(image, frames)]
    except Image.DecompressionBombError as exc:  # Pillow's own guard fires first past ~179 MP
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) // 1_000_000} megapixels" if found else "too many pixels"
        raise ImageTooLargeError(
            f"The image is too large to open safely ({size}; the limit is {max_pixels // 1_000_000} "
            "megapixels per image). It may be damaged or not a medical image.", path) from exc
    except ScanLoadError:
        raise
    except (Image.UnidentifiedImageError, SyntaxError) as exc:
        raise NotAnImageError(path=path) from exc
    except (OSError, ValueError, EOFError) as exc:
        if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
            raise TruncatedFileError(path=path) from exc
        raise ScanLoadError("The image file is damaged and cannot be read.", path) from exc
    count = len(arrays)
    return [
        _make_scan(path, pixels, frame=i if count > 1 else None, frame_count=count if count > 1 else None)
        for i, pixels in enumerate(arrays)
    ]


def display_from_pixels(pixels: np.ndarray, bits: int) -> tuple[np.ndarray, tuple[float, float] | None]:
    """(display uint8, window) for plain-image pixels: 8-bit as is, deeper grey min–max windowed,
    deeper colour scaled by its bit depth (keeps the colour balance)."""
    if bits <= 8:
        return np.clip(pixels, 0, 255).astype(np.uint8), None
    if pixels.ndim == 3:
        scale = 255.0 / float(2**bits - 1)
        return np.clip(np.round(pixels * scale), 0, 255).astype(np.uint8), None
    window = full_range_window(pixels)
    return apply_window(pixels, *window), window


def _make_scan(path: Path, pixels_and_bits: tuple[np.ndarray, int], **position) -> Scan:
    pixels, bits = pixels_and_bits
    display, window = display_from_pixels(pixels, bits)
    return Scan(source=path, pixels=pixels, display=display, metadata=ScanMetadata(), window=window, **position)


def _pages(image: Image.Image, frames: int):
    for index, page in enumerate(ImageSequence.Iterator(image)):
        if index >= frames:
            break
        yield ImageOps.exif_transpose(page) if index == 0 else page


def _to_array(image: Image.Image) -> tuple[np.ndarray, int]:
    """A Pillow image → (float32 HxW or HxWx3 pixels, bits per sample)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image).astype(np.float32)
        bits = 16 if mode.startswith("I;16") else 32
        return arr, bits
    if mode in ("1", "L"):
        return np.asarray(image.convert("L")).astype(np.float32), 8
    if mode == "LA":
        return np.asarray(image.convert("L")).astype(np.float32), 8
    rgb = np.asarray(image.convert("RGB"))
    if (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all():
        return rgb[:, :, 0].astype(np.float32), 8  # a grey image stored as colour
    return rgb.astype(np.float32), 8


def _is_16bit_colour(image: Image.Image) -> bool:
    if image.mode not in ("RGB", "RGBA"):
        return False
    if image.format == "TIFF":
        from PIL.TiffImagePlugin import TiffImageFile  # loaded already: it opened this image

        if isinstance(image, TiffImageFile):
            bits = image.tag_v2.get(258, (8,))
            return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    if image.format == "PNG":
        return image.info.get("bitdepth", 8) > 8 or _png_bit_depth(image) > 8
    return False


def _png_bit_depth(image: Image.Image) -> int:
    fp = getattr(image, "fp", None)
    if fp is None:  # the file is closed (or the image was made in memory)
        return 8
    try:
        position = fp.tell()
        fp.seek(24)
        depth = fp.read(1)[0]
        fp.seek(position)
        return int(depth)
    except (AttributeError, OSError, IndexError, ValueError):
        return 8


def _read_with_opencv(path: Path) -> tuple[np.ndarray, int]:
    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ScanLoadError("The image file is damaged and cannot be read.", path)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)
    bits = 16 if arr.dtype == np.uint16 else 8
    return arr.astype(np.float32), bits
