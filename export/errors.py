"""Export errors that need no TensorFlow to import (the CLI maps them to exit codes)."""

from __future__ import annotations


class UnsupportedHeadError(ValueError):
    """The layers after the Grad-CAM layer include one whose backward pass is not written here."""
