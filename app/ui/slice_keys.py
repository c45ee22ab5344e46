"""Slice keys that work whatever widget of the viewer has the focus, as in RadiAnt and Weasis.

Without this, the widget that last took a click keeps the keys: at start the window-preset list turned
the arrow keys into preset changes, and after "Jump to slice" the button swallowed them. The filter sits
on the viewer page and every widget inside it; an open drop-down list keeps its own keys.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QWidget

SLICE_KEYS = {
    Qt.Key.Key_Left: -1, Qt.Key.Key_Up: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Down: 1,
    Qt.Key.Key_PageUp: -5, Qt.Key.Key_PageDown: 5, Qt.Key.Key_Home: -100_000, Qt.Key.Key_End: 100_000,
}


def slice_step(key: int, modifiers: Qt.KeyboardModifier) -> int | None:
    """How many slices a key press moves (None: not a slice key, e.g. Ctrl+Left)."""
    if modifiers & ~Qt.KeyboardModifier.KeypadModifier:
        return None
    return SLICE_KEYS.get(Qt.Key(key))


class SliceKeys(QObject):
    """Event filter: a slice key on any watched widget calls ``move(step)`` when ``active()``."""

    def __init__(self, move: Callable[[int], None], active: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._move, self._active = move, active

    def watch(self, root: QWidget) -> None:
        for widget in (root, *root.findChildren(QWidget)):
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or QApplication.activePopupWidget() is not None:
            return False
        step = slice_step(event.key(), event.modifiers())
        if step is None or not self._active():
            return False
        self._move(step)
        return True
