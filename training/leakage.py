"""Leakage audit: the same image (or nearly) on both sides of a train/evaluation boundary.

Public audits of the Kaggle brain-tumour set found hundreds of duplicates across its
Training/Testing folders; a model evaluated on them scores on memory, not on skill. Before
training, every evaluation-split image (validation, test) is compared with every image of the
splits it must be independent of:

* exact: the same display pixels (SHA-256), whatever the file name or format;
* near: perceptual hashes (256-bit DCT pHash) within ``near_threshold`` bits — re-encoded,
  resized or re-windowed copies.

Evaluation images found in an earlier split are removed from the evaluation split (validation is
checked against train; test against train and validation). Nothing is removed from training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.data import Samples

DEFAULT_NEAR_THRESHOLD = 10  # bits of 256; see data.perceptual_hash for the measured margins


@dataclass
class Match:
    split: str
    path: str
    other_split: str
    other_path: str
    kind: str  # "exact" or "near"
    distance: int  # Hamming distance of the perceptual hashes (0 for exact)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LeakageReport:
    near_threshold: int
    matches: list[Match] = field(default_factory=list)
    removed: dict[str, list[str]] = field(default_factory=dict)  # split → removed paths
    within_split_duplicates: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = {}
        for m in self.matches:
            key = f"{m.split}~{m.other_split}"
            counts.setdefault(key, {"exact": 0, "near": 0})[m.kind] += 1
        return {
            "method": {
                "exact": "sha256 of the display pixels",
                "near": "perceptual hash (imagehash.phash, hash_size=16, 256 bits)",
                "near_threshold_bits": self.near_threshold,
            },
            "summary": {
                "pairs": counts,
                "removed": {split: len(paths) for split, paths in self.removed.items()},
                "within_split_duplicates": self.within_split_duplicates,
            },
            "removed": self.removed,
            "matches": [m.to_dict() for m in self.matches],
        }


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between hash rows a [N, W] and b [M, W] (uint64 words) → [N, M]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.int64)
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int64)


def cross_matches(
    query: Samples, query_split: str, reference: Samples, reference_split: str, near_threshold: int
) -> list[Match]:
    """For each ``query`` image, its closest duplicate in ``reference`` (if any)."""
    exact = {}
    for j, digest in enumerate(reference.sha256):
        exact.setdefault(digest, j)
    matches = []
    chunk = 512
    for start in range(0, len(query), chunk):
        distances = hamming(query.phash[start : start + chunk], reference.phash)
        for offset, row in enumerate(distances):
            i = start + offset
            if query.sha256[i] in exact:
                j, kind, dist = exact[query.sha256[i]], "exact", 0
            elif row.size and row.min() <= near_threshold:
                j = int(row.argmin())
                kind, dist = "near", int(row[j])
            else:
                continue
            matches.append(Match(query_split, query.paths[i], reference_split, reference.paths[j], kind, dist))
    return matches


def within_duplicates(samples: Samples, near_threshold: int) -> int:
    """How many images of one split duplicate an earlier image of the same split (reported only)."""
    count, seen = 0, set(samples.sha256[:1])
    for i in range(1, len(samples)):
        d = hamming(samples.phash[i : i + 1], samples.phash[:i])
        if samples.sha256[i] in seen or d.min() <= near_threshold:
            count += 1
        seen.add(samples.sha256[i])
    return count


def audit(
    splits: dict[str, Samples], near_threshold: int = DEFAULT_NEAR_THRESHOLD, *, count_within: bool = True
) -> tuple[dict[str, Samples], LeakageReport]:
    """Audits ``splits`` in their order (e.g. train, validation, test): each split after the first
    is checked against all earlier ones and loses its leaked images. Returns the cleaned splits and
    the report. The first split is returned unchanged."""
    names = list(splits)
    report = LeakageReport(near_threshold)
    cleaned = {names[0]: splits[names[0]]} if names else {}
    for k, name in enumerate(names[1:], start=1):
        leaked: set[str] = set()
        for earlier in names[:k]:
            found = cross_matches(splits[name], name, splits[earlier], earlier, near_threshold)
            report.matches.extend(found)
            leaked.update(m.path for m in found)
        keep = [i for i, p in enumerate(splits[name].paths) if p not in leaked]
        cleaned[name] = splits[name].subset(keep)
        report.removed[name] = sorted(leaked)
    if count_within:
        report.within_split_duplicates = {n: within_duplicates(s, near_threshold) for n, s in splits.items()}
    return cleaned, report
