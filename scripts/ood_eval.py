"""How well does the out-of-distribution guard tell axial brain MRI slices from everything else?

A labelled set is assembled from real sources that ship inside installed packages (nothing is
downloaded, nothing is synthesised except noise and blank images):

in distribution ("in")
    MNI ICBM152 T1 template axial slices z=40..140 (the card's embedding reference uses every 4th
    of these: the other slices are held out, but they are 1 mm neighbours, not independent);
    the same slices with acquisition-like changes (rotation, zoom, gamma, noise, JPEG);
    a real subject's EPI brain volume (nibabel's example4d.nii.gz, axial slices with brain);
    MNI axial slices written as DICOM (axial ImageOrientationPatient) and loaded back;
    MNI sagittal and coronal slices, as plain images and as DICOM with their orientation in the
    header (the default model is trained on all three planes of the Kaggle data).
borderline ("edge", reported, not scored)
    MNI axial slices with little brain (z=20..39 and 141..155);
    partial field-of-view brain MRI crops (pydicom's MR_small, nibabel's anatomical.nii).
out of distribution ("out")
    photographs (scikit-image's bundled images, colour and greyscale), other modalities and body
    parts (pydicom's CT, NM, US, secondary-capture and segmentation files), nearly blank MNI axial
    slices (z<20, z>155), noise and blank images.

Every group is split in two by position (even/odd): thresholds are chosen on the "calib" half and
the figures that count are those of the "test" half.

    python scripts/ood_eval.py                # table on the default model
    python scripts/ood_eval.py --markdown     # the same as a Markdown table (docs/reliability.md)
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.core.scans.loading import load_scans  # noqa: E402
from tests import mri_data  # noqa: E402

IN, OUT, EDGE = "in", "out", "edge"
# Photographs in scikit-image's data folder (bundled in the wheel; skimage.data's fetchers are not used).
SKIMAGE_FILES = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "chessboard_GRAY.png",
    "clock_motion.png", "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "horse.png",
    "hubble_deep_field.jpg", "ihc.png", "logo.png", "microaneurysms.png", "moon.png",
    "motorcycle_left.png", "page.png", "phantom.png", "retina.jpg", "rocket.jpg", "text.png",
)
GREY_COPIES = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "retina.jpg", "ihc.png")
# pydicom's bundled files that decode to an image and are not brain MRI.
PYDICOM_OTHER = (
    ("CT_small.dcm", "CT (chest/spine)"), ("693_J2KI.dcm", "CT (head)"), ("J2K_pixelrep_mismatch.dcm", "CT (head)"),
    ("JPEG2000.dcm", "NM (whole body)"), ("JPGExtended.dcm", "NM (whole body)"),
    ("examples_overlay.dcm", "MR (abdomen)"), ("examples_palette.dcm", "US"), ("examples_rgb_color.dcm", "US"),
    ("examples_ybr_color.dcm", "US"), ("examples_jpeg2k.dcm", "US"), ("ExplVR_BigEnd.dcm", "US"),
    ("image_dfl.dcm", "test pattern"), ("liver_1frame.dcm", "segmentation"),
    ("SC_rgb_jpeg_dcmtk.dcm", "test pattern"), ("GDCMJ2K_TextGBR.dcm", "test pattern"),
    ("SC_rgb_rle_16bit.dcm", "test pattern"), ("rtdose_1frame.dcm", "RT dose"),
)
EPI_FILE = "nibabel/tests/data/example4d.nii.gz"
ANATOMICAL_FILE = "nibabel/tests/data/anatomical.nii"


@dataclass(frozen=True)
class Sample:
    name: str
    group: str
    label: str  # "in", "out" or "edge"
    split: str  # "calib" or "test"
    image: np.ndarray  # uint8 display image, grey HxW or RGB HxWx3, as the loader gives it
    plane: str | None = None  # the image plane of a DICOM file's header (None for plain images)


def _site_packages() -> Path:
    import nibabel

    return Path(nibabel.__file__).resolve().parents[1]


def _loaded(path: Path) -> np.ndarray:
    return load_scans(path)[0].display


def _png_roundtrip(image: np.ndarray) -> np.ndarray:
    """The display image the app would get from this array saved as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("L"))


def _rotate(image: np.ndarray, degrees: float, zoom: float = 1.0) -> np.ndarray:
    import cv2

    rows, cols = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), degrees, zoom)
    return cv2.warpAffine(image, matrix, (cols, rows), flags=cv2.INTER_LINEAR, borderValue=0)


def _pad_square(image: np.ndarray, pad: float = 0.08) -> np.ndarray:
    """A scanner's field of view: the template slice centred in a square with a dark margin."""
    rows, cols = image.shape[:2]
    side = int(max(rows, cols) * (1 + pad))
    out = np.zeros((side, side), image.dtype)
    top, left = (side - rows) // 2, (side - cols) // 2
    out[top : top + rows, left : left + cols] = image
    return out


def _alternate(items: Iterable[tuple], group: str, label: str) -> Iterator[Sample]:
    """Samples from (name, image) or (name, image, plane), alternately calib and test."""
    for index, (name, image, *plane) in enumerate(items):
        yield Sample(name, group, label, "calib" if index % 2 == 0 else "test", image, plane[0] if plane else None)


def _dicom_slices(plane: str, indices: Iterable[int]) -> Iterator[tuple[str, np.ndarray, str | None]]:
    """MNI slices written as DICOM files with the plane's ImageOrientationPatient, then loaded."""
    import tempfile

    from tests.ood_fixtures import write_plane_series

    indices = list(indices)
    with tempfile.TemporaryDirectory() as tmp:
        for path, index in zip(write_plane_series(Path(tmp), plane, indices, window=None), indices):
            scan = load_scans(path)[0]
            yield f"DICOM {plane} {index}", scan.display, scan.metadata.image_plane


def _mni(kind: str, index: int) -> np.ndarray:
    slicer = {"axial": mri_data.axial_slice, "sagittal": mri_data.sagittal_slice, "coronal": mri_data.coronal_slice}[kind]
    return _pad_square(mri_data.to_uint8(slicer(index)))


def in_distribution() -> Iterator[Sample]:
    yield from _alternate(((f"MNI axial z={z}", _mni("axial", z)) for z in range(40, 141, 2)), "MNI axial z=40..140", IN)

    def variants() -> Iterator[tuple[str, np.ndarray]]:
        rng = np.random.default_rng(7)
        for z in range(45, 140, 10):
            base = _mni("axial", z)
            yield f"z={z} rotated 12°", _rotate(base, 12 if z % 20 else -12)
            yield f"z={z} zoom 0.8", _rotate(base, 0, 0.8)
            yield f"z={z} gamma 0.7", np.clip(255 * (base / 255.0) ** 0.7, 0, 255).astype(np.uint8)
            noisy = base.astype(np.float32) + rng.normal(0, 6, base.shape)
            yield f"z={z} noise σ=6", np.clip(noisy, 0, 255).astype(np.uint8)
            yield f"z={z} JPEG q=40", _jpeg(base, 40)

    yield from _alternate(variants(), "MNI axial, acquisition changes", IN)
    yield from _alternate(_epi_slices(range(2, 22)), "EPI brain (real subject)", IN)
    yield from _alternate(_dicom_slices("axial", range(43, 140, 8)), "MNI axial, DICOM", IN)
    # The default model is trained on the Kaggle data's axial, coronal and sagittal slices.
    yield from _alternate(((f"MNI sagittal x={x}", _mni("sagittal", x)) for x in range(40, 161, 10)), "MNI sagittal", IN)
    yield from _alternate(((f"MNI coronal y={y}", _mni("coronal", y)) for y in range(42, 211, 12)), "MNI coronal", IN)
    yield from _alternate(_dicom_slices("sagittal", range(45, 156, 10)), "MNI sagittal, DICOM", IN)
    yield from _alternate(_dicom_slices("coronal", range(48, 205, 12)), "MNI coronal, DICOM", IN)


def _epi_slices(zs: Iterable[int]) -> Iterator[tuple[str, np.ndarray]]:
    import nibabel

    volume = np.asarray(nibabel.load(_site_packages() / EPI_FILE).dataobj, dtype=np.float32)[..., 0]
    for z in zs:
        yield f"EPI z={z}", _pad_square(mri_data.to_uint8(np.rot90(volume[:, :, z])))


def borderline() -> Iterator[Sample]:
    levels = list(range(20, 40, 3)) + list(range(142, 156, 3))
    yield from _alternate(((f"MNI axial z={z}", _mni("axial", z)) for z in levels), "MNI axial, little brain", EDGE)

    def partial() -> Iterator[tuple[str, np.ndarray]]:
        import nibabel

        yield "pydicom MR_small.dcm", _loaded(mri_data.pydicom_file("MR_small.dcm"))
        volume = np.asarray(nibabel.load(_site_packages() / ANATOMICAL_FILE).dataobj, dtype=np.float32)
        for z in (6, 12, 18):
            yield f"anatomical.nii z={z}", mri_data.to_uint8(np.rot90(volume[:, :, z]))

    yield from _alternate(partial(), "brain MRI, partial field of view", EDGE)


def out_of_distribution() -> Iterator[Sample]:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    yield from _alternate(((n, _loaded(folder / n)) for n in SKIMAGE_FILES), "photographs (scikit-image)", OUT)

    def grey() -> Iterator[tuple[str, np.ndarray]]:
        for name in GREY_COPIES:
            image = _loaded(folder / name)
            yield f"{name} (grey)", np.round(image[:, :, :3].mean(axis=2)).astype(np.uint8) if image.ndim == 3 else image

    yield from _alternate(grey(), "photographs, greyscale", OUT)
    yield from _alternate(((f"{n} [{what}]", _loaded(mri_data.pydicom_file(n))) for n, what in PYDICOM_OTHER),
                          "other modalities / body parts (pydicom)", OUT)
    levels = [0, 5, 10, 15, 160, 165, 170, 175, 180, 188]
    yield from _alternate(((f"MNI axial z={z}", _mni("axial", z)) for z in levels), "MNI axial, (nearly) no brain", OUT)
    yield from _alternate(_noise(), "noise", OUT)
    yield from _alternate(_blank(), "blank / nearly blank", OUT)


def _noise() -> Iterator[tuple[str, np.ndarray]]:
    import cv2

    rng = np.random.default_rng(3)
    size = (256, 256)
    yield "uniform", rng.integers(0, 256, size, dtype=np.uint8)
    yield "gaussian", np.clip(rng.normal(128, 40, size), 0, 255).astype(np.uint8)
    yield "salt and pepper", (rng.random(size) < 0.1).astype(np.uint8) * 255
    smooth = cv2.GaussianBlur(rng.normal(0, 1, size).astype(np.float32), (0, 0), 8)
    yield "smooth noise", mri_data.to_uint8(smooth)
    yield "colour noise", rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    disk = np.hypot(*np.meshgrid(np.arange(256) - 128, np.arange(256) - 128)) < 100
    yield "noise in a head-sized disk", (rng.integers(40, 256, size) * disk).astype(np.uint8)
    yield "smooth noise in a disk", (mri_data.to_uint8(smooth) * disk).astype(np.uint8)
    yield "uniform 512x512", rng.integers(0, 256, (512, 512), dtype=np.uint8)


def _blank() -> Iterator[tuple[str, np.ndarray]]:
    size = (256, 256)
    yield "black", np.zeros(size, np.uint8)
    yield "white", np.full(size, 255, np.uint8)
    yield "mid grey", np.full(size, 128, np.uint8)
    dot = np.zeros(size, np.uint8)
    dot[120:126, 120:126] = 255
    yield "one small dot", dot
    yield "horizontal gradient", np.tile(np.linspace(0, 255, 256).astype(np.uint8), (256, 1))
    faint = np.zeros(size, np.uint8)
    faint[60:200, 70:190] = 12
    yield "faint rectangle", faint


def labelled_set(groups: Callable[[Sample], bool] | None = None) -> list[Sample]:
    """The whole labelled set (about 270 images), optionally filtered."""
    samples = [*in_distribution(), *borderline(), *out_of_distribution()]
    return [s for s in samples if groups is None or groups(s)]


@dataclass(frozen=True)
class Outcome:
    sample: Sample
    flagged: bool
    reasons: tuple[str, ...]
    distance: float | None
    model_class: str
    confidence: float


def evaluate(classifier, samples: list[Sample], batch_size: int = 8) -> list[Outcome]:
    outcomes = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        prepared = [classifier.prepare(s.image, plane=s.plane) for s in chunk]
        for sample, p in zip(chunk, classifier.run(prepared)):
            outcomes.append(Outcome(sample, not p.assessed, p.ood_reasons, p.ood_distance, p.predicted_class, p.confidence))
    return outcomes


@dataclass(frozen=True)
class Rate:
    flagged: int
    total: int

    @property
    def value(self) -> float:
        return self.flagged / self.total if self.total else float("nan")

    def __str__(self) -> str:
        return f"{self.flagged}/{self.total} ({100 * self.value:.0f}%)" if self.total else "-"


def rate(outcomes: Iterable[Outcome], *, label: str | None = None, split: str | None = None, group: str | None = None) -> Rate:
    chosen = [o for o in outcomes if (label is None or o.sample.label == label)
              and (split is None or o.sample.split == split) and (group is None or o.sample.group == group)]
    return Rate(sum(o.flagged for o in chosen), len(chosen))


def table(outcomes: list[Outcome], markdown: bool = False) -> str:
    groups = list(dict.fromkeys((o.sample.label, o.sample.group) for o in outcomes))
    header = ("set", "group", "flagged (calib)", "flagged (test)", "flagged (all)")
    rows = [(label, group, str(rate(outcomes, group=group, split="calib")), str(rate(outcomes, group=group, split="test")),
             str(rate(outcomes, group=group))) for label, group in groups]
    rows.append(("in", "FALSE-ALARM RATE", str(rate(outcomes, label=IN, split="calib")),
                 str(rate(outcomes, label=IN, split="test")), str(rate(outcomes, label=IN))))
    rows.append(("out", "DETECTION RATE", str(rate(outcomes, label=OUT, split="calib")),
                 str(rate(outcomes, label=OUT, split="test")), str(rate(outcomes, label=OUT))))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [header, *rows])


def misses(outcomes: list[Outcome]) -> list[str]:
    """One line per scored mistake: an in-distribution image flagged or an OOD image passed."""
    lines = []
    for o in outcomes:
        wrong = (o.sample.label == IN and o.flagged) or (o.sample.label == OUT and not o.flagged)
        if wrong or o.sample.label == EDGE:
            what = "edge" if o.sample.label == EDGE else ("false alarm" if o.sample.label == IN else "missed")
            dist = f"{o.distance:.2f}" if o.distance is not None else "-"
            lines.append(f"  {what:<11} {o.sample.split:<5} {o.sample.name:<45} {','.join(o.reasons) or 'assessed':<32} "
                         f"d={dist} {o.model_class} {o.confidence:.2f}")
    return lines


def distances(outcomes: list[Outcome], threshold: float | None) -> str:
    """The embedding distance's margin: the range of each group's distances against the threshold."""
    lines = [f"embedding distance (threshold {threshold}):"]
    for group in dict.fromkeys(o.sample.group for o in outcomes):
        values = [o.distance for o in outcomes if o.sample.group == group and o.distance is not None]
        if values:
            lines.append(f"  {group:<42} {min(values):6.2f} .. {max(values):6.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a BrainLens ONNX model (default: the bundled one)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--quiet", action="store_true", help="no per-image list of mistakes")
    args = parser.parse_args(argv)
    from app.core.model.inference import Classifier

    classifier = Classifier(args.model, device="cpu")
    samples = labelled_set()
    outcomes = evaluate(classifier, samples)
    print(f"model: {classifier.card.name} {classifier.card.version} (sha256 {classifier.model_sha256[:12]}); "
          f"embedding reference: {classifier.card.ood_reference.get('metric', 'none')}, "
          f"threshold {classifier.card.ood_reference.get('threshold', '-')}")
    print(f"{len(samples)} images: {sum(s.label == IN for s in samples)} in distribution, "
          f"{sum(s.label == OUT for s in samples)} out of distribution, {sum(s.label == EDGE for s in samples)} borderline\n")
    print(table(outcomes, args.markdown))
    print("\n" + distances(outcomes, classifier.card.ood_reference.get("threshold")))
    if not args.quiet:
        print("\nmistakes and borderline images:")
        print("\n".join(misses(outcomes)) or "  none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
