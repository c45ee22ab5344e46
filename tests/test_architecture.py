"""app.core stays pure at run time: importing any of its modules pulls in no Qt and no TensorFlow/Keras.

The static rules (who may import whom) are the import-linter contract in pyproject.toml, checked by
``lint-imports`` in ``make test``; this test covers what a static contract cannot see (imports made by
the libraries app.core uses). It walks the package, so modules added later are covered.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import app.core

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "tensorflow", "keras", "tf2onnx")


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(app.core.__path__, "app.core."))


def test_core_is_grouped_in_packages():
    """Every module but the shared errors and version lives in a package that says what it holds."""
    top_level = {m.name for m in pkgutil.iter_modules(app.core.__path__)}
    assert top_level == {"errors", "version", "scans", "model", "runs", "reports", "network"}
    names = set(core_modules())
    for module in ("scans.loading", "scans.dicom", "model.inference", "model.ood", "runs.batch", "reports.pdf",
                   "network.pacs"):
        assert f"app.core.{module}" in names


def test_importing_app_core_pulls_in_no_qt_or_tensorflow():
    modules = core_modules()
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    leaked = json.loads(done.stdout.strip().splitlines()[-1])
    assert leaked == [], f"app.core imported {leaked}"
