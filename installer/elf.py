"""Shared-library facts about a Linux bundle: what its ELF files need from the system.

Used to check the bundle is complete (every needed library is either inside it or a normal
system library) and to compute the .deb's ``Depends`` from the packages owning those libraries,
the way dpkg-shlibdeps would, but without a debian/ source tree.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
# Libraries a user installs for GPU use; ONNX Runtime loads its CUDA provider only when they exist.
OPTIONAL_GPU_LIBS = re.compile(r"^lib(cuda|cudart|cublas|cublasLt|curand|cufft|cudnn|nvinfer|nvrtc|nvonnxparser)\b")
# Packages that provide the libraries Qt's xcb/wayland plugins need, for machines where a library
# is not installed at build time (Debian/Ubuntu names).
FALLBACK_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}


@dataclass
class LibraryReport:
    bundled: set[str] = field(default_factory=set)  # file names inside the bundle
    system: dict[str, Path] = field(default_factory=dict)  # soname -> resolved system path
    optional_gpu: set[str] = field(default_factory=set)  # CUDA/cuDNN libraries, not bundled
    missing: set[str] = field(default_factory=set)  # needed, neither bundled nor on this system
    needed_by: dict[str, set[str]] = field(default_factory=dict)  # soname -> bundle files needing it
    glibc: tuple[int, int] = (2, 17)  # highest GLIBC_x.y symbol version referenced


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def elf_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p))


@lru_cache(maxsize=None)
def needed(path: Path | str) -> tuple[str, ...]:
    """The DT_NEEDED sonames of an ELF file; empty for anything else."""
    if not Path(path).is_file():
        return ()
    out = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, check=False).stdout
    return tuple(line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED"))


def glibc_version(path: Path) -> tuple[int, int]:
    out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True, check=False).stdout
    versions = [(int(a), int(b)) for a, b in re.findall(r"GLIBC_(\d+)\.(\d+)", out)]
    return max(versions, default=(2, 17))


def ldconfig() -> str | None:
    """ldconfig lives in /sbin, which is not on a normal user's PATH on Debian."""
    import shutil

    found = shutil.which("ldconfig")
    if found:
        return found
    return next((str(p) for p in (Path("/sbin/ldconfig"), Path("/usr/sbin/ldconfig")) if p.exists()), None)


@lru_cache(maxsize=1)
def system_sonames() -> dict[str, Path]:
    """soname -> path from the dynamic linker's cache (x86-64 entries only)."""
    out = subprocess.run([ldconfig() or "ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    found: dict[str, Path] = {}
    for line in out.splitlines()[1:]:
        match = re.match(r"\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)", line)
        if match and "x86-64" in match.group(2):
            found.setdefault(match.group(1), Path(match.group(3)))
    return found


def analyse(bundle: Path) -> LibraryReport:
    files = elf_files(bundle)
    report = LibraryReport(bundled={p.name for p in bundle.rglob("*") if p.is_file()})
    system = system_sonames()
    for path in files:
        report.glibc = max(report.glibc, glibc_version(path))
        for soname in needed(path):
            if soname in report.bundled:
                continue
            report.needed_by.setdefault(soname, set()).add(str(path.relative_to(bundle)))
            if OPTIONAL_GPU_LIBS.match(soname):
                report.optional_gpu.add(soname)
            elif soname in system:
                report.system[soname] = system[soname]
            else:
                report.missing.add(soname)
    return report


def owning_package(path: Path) -> str | None:
    for candidate in (path, path.resolve()):
        out = subprocess.run(["dpkg", "-S", str(candidate)], capture_output=True, text=True, check=False)
        if out.returncode == 0 and ":" in out.stdout:
            return out.stdout.splitlines()[0].split(":")[0].strip()
        # merged /usr: /lib/x86_64-linux-gnu is registered as /usr/lib/... or the other way round
        alternative = str(candidate).replace("/usr/lib/", "/lib/", 1) if str(candidate).startswith("/usr/lib/") else "/usr" + str(candidate)
        out = subprocess.run(["dpkg", "-S", alternative], capture_output=True, text=True, check=False)
        if out.returncode == 0 and ":" in out.stdout:
            return out.stdout.splitlines()[0].split(":")[0].strip()
    return None


def depends(report: LibraryReport) -> list[str]:
    """Debian package names for the bundle's system libraries, libc6 with its minimum version."""
    packages: set[str] = set()
    for soname, path in report.system.items():
        package = owning_package(path) or FALLBACK_PACKAGES.get(soname)
        if package and not package.startswith("libc6"):
            packages.add(package)
    for soname in report.missing:
        if soname in FALLBACK_PACKAGES:
            packages.add(FALLBACK_PACKAGES[soname])
    major, minor = report.glibc
    return [f"libc6 (>= {major}.{minor})", *sorted(packages)]
