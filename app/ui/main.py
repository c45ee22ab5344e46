"""GUI entry point: ``main(argv)`` creates the QApplication, applies the theme, opens the window."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "brainlens-256.png"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="brainlens", description="BrainLens desktop app")
    parser.add_argument("paths", nargs="*", type=Path, help="scans or folders to open")
    parser.add_argument("--model", type=Path, default=None, help="a BrainLens .onnx model (default: the bundled one)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "brainlens"])
    app.setApplicationName("BrainLens")
    app.setOrganizationName("BrainLens")
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))

    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    apply_theme(app)
    window = MainWindow(model_path=args.model)
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
