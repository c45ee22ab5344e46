"""The BrainLens version: one lookup for the CLI, the reports, the DICOM outputs, the audit log and crash logs."""

from __future__ import annotations

from functools import cache


@cache
def app_version() -> str:
    """The installed distribution's version (the PyInstaller bundle carries its metadata too);
    "unknown" in a source checkout that was never installed."""
    try:
        from importlib.metadata import version

        return version("brainlens")
    except Exception:  # noqa: BLE001 - PackageNotFoundError, or broken metadata in a frozen bundle
        return "unknown"
