"""The local cache retrieved series land in: one folder per series, one file per instance.

Each instance is checked before it is kept (it must parse as DICOM and, when it has pixel data, its
pixels must decode) and written atomically (``<uid>.dcm.part`` then ``os.replace``), so a dropped
connection or a crash never leaves a half-written ``.dcm`` behind. What did not arrive, or arrived
broken, is counted: a ``RetrieveResult`` is either complete or says what is missing.
"""

from __future__ import annotations

import io
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

ENV_CACHE_DIR = "BRAINLENS_CACHE_DIR"
PART_SUFFIX = ".part"
_UID = re.compile(r"^[0-9.]{1,64}$")


def cache_root() -> Path:
    """Where retrieved series are kept (``BRAINLENS_CACHE_DIR`` overrides; not created here)."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("BrainLens", appauthor=False)) / "pacs"


def safe_uid(uid: str) -> str:
    """A UID usable as a file name (UIDs are digits and dots; anything else is refused)."""
    uid = str(uid).strip().rstrip("\0")
    if not _UID.match(uid):
        raise ValueError("not a DICOM UID")
    return uid


@dataclass
class RetrieveResult:
    """What a retrieval left in ``folder``. ``expected`` is None when the PACS never said how many."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    expected: int | None = None
    failed: int = 0  # instances the PACS could not send, or that arrived broken
    problems: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def received(self) -> int:
        return len(self.files)

    @property
    def complete(self) -> bool:
        return (not self.cancelled and not self.failed and bool(self.files)
                and (self.expected is None or self.received >= self.expected))

    def summary(self) -> str:
        of = f" of {self.expected}" if self.expected is not None else ""
        text = f"{self.received}{of} image(s) retrieved"
        if self.complete:
            return text
        reasons = list(self.problems)
        if self.cancelled:
            reasons.insert(0, "cancelled")
        if self.failed:
            reasons.append(f"{self.failed} failed")
        return f"INCOMPLETE series: {text}" + (f" ({'; '.join(reasons)})" if reasons else "")


class InstanceWriter:
    """Checks and stores instances as they arrive (thread-safe: a storage SCP calls it per C-STORE)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files: list[Path] = []
        self.problems: list[str] = []
        self.broken = 0
        self._lock = threading.Lock()

    def accept(self, encoded: bytes) -> bool:
        """Stores one DICOM file's bytes (preamble + meta + dataset); False when it was refused."""
        try:
            ds = pydicom.dcmread(io.BytesIO(encoded))
            name = safe_uid(ds.SOPInstanceUID) + ".dcm"
            if "PixelData" in ds:
                ds.pixel_array  # noqa: B018 - decoding is the check
        except Exception as exc:  # noqa: BLE001 - any unreadable instance is reported, never kept
            with self._lock:
                self.broken += 1
                self.problems.append(f"an instance could not be read ({_reason(exc)})")
            return False
        target = self.folder / name
        part = target.with_name(target.name + PART_SUFFIX)
        try:
            with open(part, "wb") as handle:
                handle.write(encoded)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(part, target)
        except OSError as exc:
            part.unlink(missing_ok=True)
            with self._lock:
                self.broken += 1
                self.problems.append(f"an instance could not be written to the cache ({exc.strerror})")
            return False
        with self._lock:
            if target not in self.files:
                self.files.append(target)
        return True

    def discard_parts(self) -> None:
        """Removes leftovers of writes that never finished (a crash in an earlier run)."""
        for part in self.folder.glob("*" + PART_SUFFIX):
            part.unlink(missing_ok=True)

    def result(self, expected: int | None, *, failed: int = 0, problems: list[str] | None = None,
               cancelled: bool = False) -> RetrieveResult:
        self.discard_parts()
        with self._lock:
            return RetrieveResult(self.folder, sorted(self.files), expected, failed + self.broken,
                                  list(self.problems) + list(problems or []), cancelled)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def series_folder(root: Path, series_uid: str) -> Path:
    return Path(root) / safe_uid(series_uid)
