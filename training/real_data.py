"""The real labelled MRI in ``../shared/data/kaggle`` (train, calibration, test-dev), loaded once.

Each split is read through the app's own loader (``training.data.load_samples``: the Scan's
display image, resized like ``app.core.model.preprocess.to_model_input``, with its sha256 and
perceptual hash) and cached as one ``.npz`` under ``runs/real-cache/`` (git-ignored), keyed by
the split's file list, so later runs skip the JPEG decoding and hashing.

``audit`` runs the leakage audit (training.leakage) in the order train -> calibration -> test-dev:
calibration images that duplicate a training image, and test-dev images that duplicate a training
or calibration image, are left out of every figure computed on those splits.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from training import leakage
from training.data import Samples, list_files, load_samples

REPO = Path(__file__).resolve().parent.parent
# ../shared/data beside the clone (CI); BRAINLENS_SHARED_DATA overrides it (e.g. for a git worktree).
SHARED_DATA = Path(os.environ.get("BRAINLENS_SHARED_DATA") or REPO.parent / "shared" / "data")
CACHE_DIR = REPO / "runs" / "real-cache"
SPLITS = ("train", "calibration", "test-dev")
CLASS_NAMES = ("glioma", "meningioma", "notumor", "pituitary")


def kaggle_dir(data_dir: Path | None = None) -> Path:
    """The folder holding train/, calibration/ and test-dev/ (default ``../shared/data/kaggle``)."""
    base = Path(data_dir) if data_dir is not None else SHARED_DATA / "kaggle"
    return base / "kaggle" if (base / "kaggle").is_dir() else base


def available(data_dir: Path | None = None) -> bool:
    root = kaggle_dir(data_dir)
    return all((root / split).is_dir() for split in SPLITS)


def _cache_key(root: Path, split: str, img_size: int) -> str:
    files = list_files(root / split, CLASS_NAMES)
    digest = hashlib.sha256(f"{img_size}".encode())
    for path, label in files:
        digest.update(f"{path.relative_to(root)}:{label}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def load_split(split: str, img_size: int = 240, data_dir: Path | None = None, *, cache: bool = True) -> Samples:
    """One split's images (uint8 [N, S, S, 3]), labels, paths ("test-dev/glioma/x.jpg") and hashes."""
    root = kaggle_dir(data_dir)
    if not (root / split).is_dir():
        raise FileNotFoundError(f"no {split}/ folder in {root}")
    cached = CACHE_DIR / f"{split}-{img_size}-{_cache_key(root, split, img_size)}.npz"
    if cache and cached.exists():
        data = np.load(cached)
        return Samples(data["images"], data["labels"], list(data["paths"]), list(data["sha256"]), data["phash"])
    samples = load_samples(root / split, CLASS_NAMES, img_size, relative_to=root)
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.savez(cached, images=samples.images, labels=samples.labels, paths=np.array(samples.paths),
                 sha256=np.array(samples.sha256), phash=samples.phash)
    return samples


def load_all(img_size: int = 240, data_dir: Path | None = None) -> dict[str, Samples]:
    return {split: load_split(split, img_size, data_dir) for split in SPLITS}


def audit(splits: dict[str, Samples]) -> tuple[dict[str, Samples], leakage.LeakageReport]:
    """Cleaned splits (duplicates of an earlier split removed) and the audit's report."""
    ordered = {name: splits[name] for name in SPLITS if name in splits}
    return leakage.audit(ordered, count_within=False)


def audit_summary(report: leakage.LeakageReport) -> dict:
    summary = report.to_dict()["summary"]
    return {"near_threshold_bits": report.near_threshold, **summary}
