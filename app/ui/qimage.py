"""numpy uint8 images → Qt pixmaps."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(array: np.ndarray) -> QImage:
    """A uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA) array as a QImage that owns its pixels.

    ``QImage(buffer, ...)`` only borrows the numpy buffer, so the array must outlive it: the
    borrowed image is copied while ``contiguous`` is still referenced in this frame.
    """
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype}")
    contiguous = np.ascontiguousarray(array)
    if contiguous.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif contiguous.ndim == 3 and contiguous.shape[2] == 1:
        contiguous = np.ascontiguousarray(contiguous[:, :, 0])
        fmt = QImage.Format.Format_Grayscale8
    elif contiguous.ndim == 3 and contiguous.shape[2] == 3:
        fmt = QImage.Format.Format_RGB888
    elif contiguous.ndim == 3 and contiguous.shape[2] == 4:
        fmt = QImage.Format.Format_RGBA8888
    else:
        raise ValueError(f"cannot show an array of shape {array.shape}")
    height, width = contiguous.shape[:2]
    borrowed = QImage(contiguous.data, width, height, contiguous.strides[0], fmt)
    owned = borrowed.copy()
    del borrowed
    return owned


def to_pixmap(array: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(array))
