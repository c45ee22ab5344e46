"""Model-card helpers for export: display names, tool versions, the export record."""

from __future__ import annotations

import datetime
import hashlib
import platform
from importlib import metadata
from pathlib import Path

DISPLAY_NAMES = {
    "glioma": "Glioma",
    "meningioma": "Meningioma",
    "notumor": "No tumour",
    "no_tumor": "No tumour",
    "pituitary": "Pituitary tumour",
    "yes": "Tumour",
    "no": "No tumour",
}
NO_TUMOUR_NAMES = ("notumor", "no_tumor", "no_tumour", "no")


def display_names(class_names) -> dict[str, str]:
    return {name: DISPLAY_NAMES.get(name, name.replace("_", " ").capitalize()) for name in class_names}


def no_tumour_class(class_names) -> str | None:
    return next((name for name in class_names if name.lower() in NO_TUMOUR_NAMES), None)


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime-gpu",
                 "onnxruntime", "numpy", "brainlens"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
