"""``python -m installer.build``: the one-folder bundle, its checks, its licences, and the .deb.

Steps (each printed with its duration):

1. PyInstaller on installer/brainlens.spec -> dist/brainlens/ (skipped with --skip-pyinstaller).
2. Checks: nothing forbidden in the bundle's files or module archive (TensorFlow, Keras, tf2onnx,
   onnx, matplotlib, scikit-learn, QML/Quick, WebEngine, CUDA toolkit libraries, ...); every shared
   library an ELF file needs is bundled, a system library, or one of the optional GPU libraries.
3. THIRD_PARTY_LICENSES.txt written into the bundle.
4. Linux: dist/brainlens_<version>_amd64.deb with ``dpkg-deb --build --root-owner-group``.
5. dist/brainlens-build.json: sizes, timings, Depends, the GPU libraries a user may add.

Windows and macOS: step 1-3 run the same; the installers are made by installer/windows/build.ps1
(Inno Setup) and installer/macos/make_dmg.sh (hdiutil). Neither could be tested here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from installer import bundle_policy, deb, elf, licenses

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "installer" / "brainlens.spec"
MODEL = REPO / "resources" / "models" / "brainlens-vgg16.onnx"
ICONS = REPO / "resources" / "icons"
LICENSES_NAME = "THIRD_PARTY_LICENSES.txt"
SUMMARY_NAME = "brainlens-build.json"


class BuildError(RuntimeError):
    pass


def project_version(pyproject: Path = REPO / "pyproject.toml") -> str:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def run_pyinstaller(dist: Path, work: Path, *, trim: bool = True) -> Path:
    env = dict(os.environ, BRAINLENS_NO_TRIM="0" if trim else "1")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    subprocess.run(command, check=True, cwd=REPO, env=env)
    bundle = dist / "brainlens"
    if not bundle.is_dir():
        raise BuildError(f"PyInstaller did not produce {bundle}")
    return bundle


def executable(bundle: Path) -> Path:
    return bundle / ("brainlens.exe" if sys.platform == "win32" else "brainlens")


def archived_modules(bundle: Path) -> list[str]:
    """Module names inside the executable's embedded archive (PYZ)."""
    from PyInstaller.archive.readers import pkg_archive_contents

    return list(pkg_archive_contents(str(executable(bundle))))


def forbidden_contents(bundle: Path) -> list[str]:
    found = [
        str(path.relative_to(bundle))
        for path in bundle.rglob("*")
        if bundle_policy.is_forbidden_file(str(path.relative_to(bundle)))
    ]
    found += [f"module {name}" for name in archived_modules(bundle) if bundle_policy.is_forbidden_module(name)]
    return sorted(found)


def largest_parts(bundle: Path, count: int = 12) -> list[tuple[str, int]]:
    """The biggest top-level items of _internal (folders summed), for the size report."""
    internal = bundle / "_internal"
    base = internal if internal.is_dir() else bundle
    sizes = []
    for item in base.iterdir():
        if item.is_symlink():  # PyInstaller's top-level links to libraries counted in their folders
            continue
        size = tree_bytes(item) if item.is_dir() else item.stat().st_size
        sizes.append((item.name, size))
    return sorted(sizes, key=lambda pair: -pair[1])[:count]


def write_bundle_licenses(bundle: Path) -> Path:
    card_path = MODEL.with_suffix(".card.json")
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else None
    internal = bundle / "_internal"
    components = licenses.collect(card=card, wheel=licenses.find_model_wheel(), bundle_internal=internal if internal.is_dir() else None)
    return licenses.write_licenses(bundle / LICENSES_NAME, components)


def _step(name: str, timings: dict[str, float], started: float) -> None:
    timings[name] = round(time.monotonic() - started, 1)
    print(f"[installer] {name}: {timings[name]} s", flush=True)


def build(args: argparse.Namespace) -> dict:
    if not MODEL.exists():
        raise BuildError(f"the default model is missing ({MODEL}): run `make model` first")
    if sys.platform.startswith("linux") and not args.no_deb:
        missing_tools = [tool for tool in ("objdump", "dpkg", "dpkg-deb") if not shutil.which(tool)]
        missing_tools += [] if elf.ldconfig() else ["ldconfig"]
        if missing_tools:
            raise BuildError(f"missing build tools {missing_tools}: install binutils and dpkg (apt-get install binutils dpkg)")
    dist, work = Path(args.dist).resolve(), Path(args.work).resolve()
    version = project_version()
    timings: dict[str, float] = {}
    summary: dict = {"version": version, "platform": sys.platform, "trimmed": not args.no_trim}

    started = time.monotonic()
    bundle = dist / "brainlens"
    if not args.skip_pyinstaller:
        bundle = run_pyinstaller(dist, work, trim=not args.no_trim)
        _step("pyinstaller", timings, started)
    elif not bundle.is_dir():
        raise BuildError(f"--skip-pyinstaller given but there is no bundle at {bundle}")

    started = time.monotonic()
    forbidden = forbidden_contents(bundle)
    summary["forbidden"] = forbidden
    if forbidden and not args.no_trim:
        raise BuildError("the bundle contains what it must not:\n  " + "\n  ".join(forbidden[:40]))
    if sys.platform.startswith("linux"):
        report = elf.analyse(bundle)
        summary["optional_gpu_libraries"] = sorted(report.optional_gpu)
        summary["missing_libraries"] = {name: sorted(report.needed_by[name]) for name in sorted(report.missing)}
        summary["glibc"] = "%d.%d" % report.glibc
        summary["depends"] = elf.depends(report)
    _step("checks", timings, started)

    started = time.monotonic()
    written = write_bundle_licenses(bundle)
    app_bundle = dist / "BrainLens.app"  # macOS: BUNDLE copied the folder before the licences existed
    if app_bundle.is_dir():
        shutil.copy2(written, app_bundle / "Contents" / "Resources" / LICENSES_NAME)
    _step("licences", timings, started)
    summary["bundle_bytes"] = tree_bytes(bundle)
    summary["largest"] = largest_parts(bundle)
    print(f"[installer] bundle {bundle}: {mib(summary['bundle_bytes'])}", flush=True)
    for name, size in summary["largest"]:
        print(f"[installer]   {mib(size):>8}  {name}")

    if sys.platform.startswith("linux") and not args.no_deb:
        started = time.monotonic()
        root = deb.stage(bundle, ICONS, work / "deb-root", version=version, depends=summary["depends"])
        package = deb.build_deb(root, dist / deb.deb_name(version), compression=args.compression)
        _step("deb", timings, started)
        summary["deb"] = str(package)
        summary["deb_bytes"] = package.stat().st_size
        print(f"[installer] package {package}: {mib(summary['deb_bytes'])}", flush=True)
    summary["seconds"] = timings
    (dist / SUMMARY_NAME).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m installer.build", description=__doc__.split("\n")[0])
    p.add_argument("--dist", default=str(REPO / "dist"), help="output folder (default: dist/)")
    p.add_argument("--work", default=str(REPO / "build" / "installer"), help="PyInstaller work folder")
    p.add_argument("--skip-pyinstaller", action="store_true", help="reuse dist/brainlens from an earlier run")
    p.add_argument("--no-deb", action="store_true", help="stop after the bundle")
    p.add_argument("--no-trim", action="store_true", help="keep all the hooks collect (to measure trimming)")
    p.add_argument("--compression", default="zstd", choices=("zstd", "gzip", "xz", "none"),
                   help="dpkg-deb compression (zstd: fast; read by dpkg in Debian 12+ and Ubuntu 21.10+)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        summary = build(args)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"[installer] FAILED: {exc}", file=sys.stderr)
        return 1
    missing = summary.get("missing_libraries")
    if missing:
        print(f"[installer] warning: libraries neither bundled nor on this machine: {sorted(missing)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
