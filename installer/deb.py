"""The Debian/Ubuntu package: the one-folder bundle under /opt/brainlens, a launcher, a desktop entry.

Layout of ``brainlens_<version>_amd64.deb``::

    /opt/brainlens/                         the PyInstaller bundle (brainlens, _internal/, THIRD_PARTY_LICENSES.txt)
    /usr/bin/brainlens -> /opt/brainlens/brainlens
    /usr/share/applications/brainlens.desktop   opens .dcm files (MimeType=application/dicom)
    /usr/share/icons/hicolor/<n>x<n>/apps/brainlens.png, scalable/apps/brainlens.svg
    /usr/share/doc/brainlens/copyright

No maintainer scripts: the desktop, MIME and icon caches are refreshed by the dpkg triggers of
desktop-file-utils, shared-mime-info and the icon themes when those are installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PACKAGE = "brainlens"
INSTALL_DIR = Path("/opt/brainlens")
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MAINTAINER = "BrainLens maintainers <brainlens@users.noreply.github.com>"

DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Version=1.4
Name=BrainLens
GenericName=Brain MRI classifier
Comment=Classify brain MRI slices and show Grad-CAM heatmaps (research use only)
Exec={install_dir}/brainlens %F
TryExec={install_dir}/brainlens
Icon=brainlens
Terminal=false
Categories=Science;MedicalSoftware;
MimeType=application/dicom;
Keywords=MRI;DICOM;tumour;tumor;brain;Grad-CAM;
StartupWMClass=brainlens
"""

DESCRIPTION = """\
Brain MRI tumour classification with Grad-CAM heatmaps
 BrainLens classifies axial brain MRI slices (DICOM files and series, PNG,
 JPEG, TIFF) as glioma, meningioma, pituitary tumour or no tumour with an
 ONNX model, and shows where the model looked (Grad-CAM). It runs entirely
 on this computer. Research use only: not a medical device, not for diagnosis.
 .
 An NVIDIA GPU is used when its driver, the CUDA 13 runtime and cuDNN 9 are
 installed; otherwise BrainLens runs on the CPU."""

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: BrainLens

Files: *
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
Comment: The bundled third-party components (Python, Qt/PySide6, ONNX Runtime,
 NumPy, OpenCV, pydicom, ...) and the model weights keep their own licences,
 reproduced in full in {install_dir}/THIRD_PARTY_LICENSES.txt.
"""


def control_file(version: str, installed_kib: int, depends: list[str]) -> str:
    return (
        f"Package: {PACKAGE}\n"
        f"Version: {version}\n"
        "Section: science\n"
        "Priority: optional\n"
        "Architecture: amd64\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join(depends)}\n"
        f"Description: {DESCRIPTION}\n"
    )


def _normalise_modes(root: Path) -> None:
    """0755 for folders and executables, 0644 for everything else (whatever the build's umask)."""
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)


def directory_kib(root: Path) -> int:
    return sum((p.stat().st_size + 1023) // 1024 for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def stage(bundle: Path, icons: Path, root: Path, *, version: str, depends: list[str]) -> Path:
    """Lays out the package tree under ``root`` (removed first) and returns it."""
    shutil.rmtree(root, ignore_errors=True)
    target = root / INSTALL_DIR.relative_to("/")
    shutil.copytree(bundle, target, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / PACKAGE).symlink_to(INSTALL_DIR / "brainlens")
    applications = root / "usr" / "share" / "applications"
    applications.mkdir(parents=True)
    (applications / "brainlens.desktop").write_text(DESKTOP_ENTRY.format(install_dir=INSTALL_DIR), encoding="utf-8")
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        folder = hicolor / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copy2(icons / f"brainlens-{size}.png", folder / "brainlens.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copy2(icons / "brainlens.svg", hicolor / "scalable" / "apps" / "brainlens.svg")
    doc = root / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT.format(install_dir=INSTALL_DIR), encoding="utf-8")
    debian = root / "DEBIAN"
    debian.mkdir()
    _normalise_modes(root)
    (debian / "control").write_text(control_file(version, directory_kib(root), depends), encoding="utf-8")
    os.chmod(debian / "control", 0o644)
    return root


def build_deb(root: Path, out: Path, *, compression: str = "zstd") -> Path:
    """``dpkg-deb --build --root-owner-group``: files are owned by root whoever builds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def deb_name(version: str) -> str:
    return f"{PACKAGE}_{version}_amd64.deb"
