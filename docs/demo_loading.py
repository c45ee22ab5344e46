"""Demo: load a DICOM series folder, a JPG and a broken file with BrainLens's scan loader.

    python docs/demo_loading.py            # the bundled samples + a JPG and broken files made on the fly
    python docs/demo_loading.py PATH ...   # your own files or folders

Every bad input comes back as a specific, readable error; nothing crashes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.core.errors import ScanLoadError  # noqa: E402
from app.core.scans.loading import load_folder, load_scans  # noqa: E402


def describe(path: Path) -> None:
    print(f"\n== {path.name}{'/' if path.is_dir() else ''}")
    try:
        if path.is_dir():
            result = load_folder(path)
            scans, failures = result.scans, result.failures
            for source in result.sources:
                print(f"   source: {source.kind:6s} {source.label}")
        else:
            scans, failures = load_scans(path), []
    except ScanLoadError as exc:
        print(f"   ERROR ({type(exc).__name__}): {exc}")
        return
    for scan in scans:
        meta = scan.metadata.anonymised()
        window = f"window {scan.window[0]:g}/{scan.window[1]:g}" if scan.window else "no window"
        print(f"   {scan.label:45s} {scan.display.shape} {scan.display.dtype}, {window}, "
              f"modality {meta.modality or '-'}, spacing {meta.pixel_spacing or '-'}")
    for failure in failures:
        print(f"   FAILED {failure.path.name}: {failure.reason}")


def demo_inputs(tmp: Path) -> list[Path]:
    from PIL import Image

    samples = REPO / "resources" / "samples"
    jpg = tmp / "mni_axial_z90.jpg"
    Image.open(samples / "mni_axial_z90.png").convert("RGB").save(jpg, quality=95)
    broken = tmp / "broken.dcm"
    broken.write_text("This is a text file that someone renamed to .dcm\n")
    first_slice = sorted((samples / "mni_series").glob("*.dcm"))[0]
    truncated = tmp / "truncated.dcm"
    truncated.write_bytes(first_slice.read_bytes()[:40_000])
    return [samples / "mni_series", jpg, broken, truncated]


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(a) for a in argv] or demo_inputs(Path(tmp))
        for path in paths:
            describe(path)


if __name__ == "__main__":
    main(sys.argv[1:])
