"""A dark, calm theme in the spirit of radiology viewers (RadiAnt, Horos, Weasis)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1b1e22"
PANEL = "#23272d"
BASE = "#181a1e"
TEXT = "#d6dce2"
MUTED = "#8d97a1"
ACCENT = "#4b9bd1"
WARNING = "#e0b34a"

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QDockWidget {{ color: {MUTED}; }}
QDockWidget::title {{ background: {PANEL}; padding: 5px 8px; }}
QGroupBox {{ border: 1px solid #343a42; border-radius: 4px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {MUTED}; }}
QLabel#resultTitle {{ font-size: 20pt; font-weight: 600; color: #f0f3f6; }}
QLabel#resultSubtitle {{ font-size: 12pt; color: {TEXT}; }}
QLabel#pTumour {{ font-size: 11pt; color: {TEXT}; }}
QLabel#warnings {{ color: {WARNING}; background: #3a3020; border: 1px solid #5c4a24;
                   border-radius: 4px; padding: 6px; }}
QLabel#hint, QLabel#sliceLabel {{ color: {MUTED}; }}
QLabel#dropHint {{ color: {MUTED}; font-size: 13pt; }}
QLabel#dropTitle {{ color: {TEXT}; font-size: 18pt; font-weight: 600; }}
QWidget#dropPage[dragActive="true"] {{ background: #1f2a33; border: 2px dashed {ACCENT}; }}
QLabel#notice {{ color: {MUTED}; padding: 0 8px; }}
QLabel#modelLabel {{ color: {TEXT}; padding: 0 8px; }}
QProgressBar {{ border: 1px solid #343a42; border-radius: 3px; background: {BASE}; text-align: center;
                color: {TEXT}; min-height: 16px; }}
QProgressBar::chunk {{ background: #3d5f7a; border-radius: 2px; }}
QProgressBar#classBar[predicted="true"]::chunk {{ background: {ACCENT}; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QStatusBar::item {{ border: none; }}
QToolBar {{ background: {PANEL}; border: none; spacing: 6px; padding: 3px; }}
QTableView {{ gridline-color: #2d3238; alternate-background-color: #1f2226; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none; padding: 4px 6px; }}
QSplitter::handle {{ background: #2b3036; }}
QPushButton {{ padding: 4px 12px; }}
"""


def dark_palette() -> QPalette:
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: "#2a2f35",
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#2f5d80",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5d656e"))
    return palette


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
