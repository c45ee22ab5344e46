"""Append-only, hash-chained audit trail of classifications.

Each line of the log is one JSON record. A record stores ``prev`` (the previous record's hash,
64 zeros for the first) and ``hash``: the SHA-256 of the record's canonical JSON (keys sorted,
no spaces, ``hash`` left out). Editing, deleting, inserting or reordering a record breaks the
chain at that line, which ``verify_audit_log`` reports. Cutting records off the *end* of the
log cannot be detected from the file alone: keep ``last_hash`` from a verification somewhere
else (a case note, a ticket) to anchor it.

Records hold no patient identifiers and no file paths (file names often carry patient names):
only the image's SHA-256, the model's identity and the result.

Appends are safe from several processes: the file is locked (fcntl on POSIX, msvcrt on
Windows) while the last hash is read and the new line is written in one ``write`` call.

Run ``python -m app.core.reports.audit verify [LOG]`` (wired as ``brainlens audit verify``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.model import verdict
from app.core.model.identity import ModelInfo
from app.core.reports.numbers import round_probability
from app.core.version import app_version

LOG_NAME = "audit.jsonl"
GENESIS_HASH = "0" * 64
RECORD_VERSION = 1
ENV_DATA_DIR = "BRAINLENS_DATA_DIR"
# The only keys a record may carry: nothing here can hold a patient identifier.
RECORD_KEYS = (
    "v", "seq", "time", "action", "file_sha256", "model", "model_sha256", "device",
    "result", "confidence", "p_tumour", "flags", "app_version", "prev", "hash",
    "node", "count",  # PACS queries, retrieves and sends: the node's name and how many objects
)


# What a record says was done (its ``action``); PACS actions are named in app.core.network.pacs.
VIEW_CLASSIFY = "view_classify"  # the GUI classified the scan(s) it shows
BATCH_CLASSIFY = "batch_classify"  # the GUI's batch
CLI_CLASSIFY = "cli_classify"  # ``brainlens classify``
EXPORT_REPORT = "export_report"  # a PDF report was written
EXPORT_DICOM = "export_dicom"  # a DICOM object (Secondary Capture, Encapsulated PDF) was written


class AuditError(Exception):
    """The audit log cannot be written (unreadable, corrupt last line, no permission)."""


@dataclass(frozen=True)
class AuditEvent:
    """What happened, without who it happened to."""

    action: str  # one of the actions above, "classify", or a PACS action ("pacs_send", ...)
    file_sha256: str | None = None
    model: str | None = None  # "name version"
    model_sha256: str | None = None
    device: str | None = None
    result: str | None = None  # predicted class, or "not assessed"
    confidence: float | None = None
    p_tumour: float | None = None
    flags: tuple[str, ...] = ()
    node: str | None = None  # the configured PACS node's name ("pacs_find", "pacs_retrieve", "pacs_send")
    count: int | None = None  # series found, images retrieved or objects sent


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    n_records: int  # records that verified before the first bad line (all of them when ok)
    first_bad_line: int | None = None  # 1-based line number
    reason: str | None = None
    last_hash: str | None = None  # hash of the last good record: an anchor against truncation

    def summary(self) -> str:
        if self.ok:
            return f"audit log OK: {self.n_records} record(s), last hash {self.last_hash}"
        return f"audit log BROKEN at line {self.first_bad_line}: {self.reason}"


def data_dir() -> Path:
    """The per-user BrainLens data folder (not created here)."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "BrainLens"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "BrainLens"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "brainlens"


def default_log_path() -> Path:
    return data_dir() / LOG_NAME


def canonical_json(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the record without its own ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """An exclusive lock on the whole file for the duration of one append."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # byte 0 as the lock token; retries ~10 s
        try:
            yield
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _last_line(fd: int) -> bytes | None:
    """The file's last line (without its newline), read backwards; None for an empty file."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    os.lseek(fd, size - 1, os.SEEK_SET)
    if os.read(fd, 1) != b"\n":
        raise AuditError("the audit log's last record is incomplete (an interrupted write); "
                         "run `brainlens audit verify` and keep the damaged log")
    pos, buf = size - 1, b""
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        os.lseek(fd, pos, os.SEEK_SET)
        buf = os.read(fd, step) + buf
        cut = buf.rfind(b"\n")
        if cut >= 0:
            return buf[cut + 1 :]
    return buf


def _previous(fd: int) -> tuple[str, int]:
    """(hash, seq) of the last record, or the genesis values."""
    line = _last_line(fd)
    if line is None or not line.strip():
        return GENESIS_HASH, 0
    try:
        last = json.loads(line)
        return str(last["hash"]), int(last["seq"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"the audit log's last record is unreadable: {exc}") from exc


def _record(event: AuditEvent, prev_hash: str, seq: int, version: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "seq": seq,
        "time": _utc_now(),
        "action": event.action,
        "file_sha256": event.file_sha256,
        "model": event.model,
        "model_sha256": event.model_sha256,
        "device": event.device,
        "result": event.result,
        "confidence": round_probability(event.confidence),
        "p_tumour": round_probability(event.p_tumour),
        "flags": list(event.flags),
        "app_version": version,
        "prev": prev_hash,
    }
    if event.node is not None:  # PACS records only: classification records keep their old shape
        record["node"], record["count"] = event.node, event.count
    record["hash"] = record_hash(record)
    return record


def append_events(events: Sequence[AuditEvent], log_path: Path | None = None) -> list[dict[str, Any]]:
    """Appends records for ``events`` under one lock, one ``write`` and one fsync; returns them."""
    if not events:
        return []
    path = Path(log_path) if log_path is not None else default_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | flags, 0o644)
    except OSError as exc:
        raise AuditError(f"cannot open the audit log {path}: {exc.strerror}") from exc
    version = app_version()
    try:
        with _locked(fd):
            prev_hash, seq = _previous(fd)
            records = []
            for event in events:
                seq += 1
                records.append(_record(event, prev_hash, seq, version))
                prev_hash = records[-1]["hash"]
            os.write(fd, "".join(canonical_json(r) + "\n" for r in records).encode("ascii"))
            os.fsync(fd)
    except OSError as exc:
        raise AuditError(f"cannot write the audit log {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return records


def append_event(event: AuditEvent, log_path: Path | None = None) -> dict[str, Any]:
    """Appends one record for ``event``; returns the record written (with its hash)."""
    return append_events([event], log_path)[0]


def model_event(action: str, model_info: ModelInfo | None, *, file_sha256: str | None = None) -> AuditEvent:
    """An event that names the model (and, optionally, the image) but carries no result: an export."""
    return AuditEvent(
        action=action,
        file_sha256=file_sha256,
        model=(model_info.label or None) if model_info is not None else None,
        model_sha256=model_info.sha256 if model_info is not None else None,
        device=model_info.device if model_info is not None else None,
    )


def classification_event(prediction: Any, *, file_sha256: str | None, model_info: ModelInfo | None = None,
                         action: str = "classify", threshold: float | None = None) -> AuditEvent:
    """An event from a Prediction (duck-typed) and the model that made it; the result and flags are the
    ones shown to the user (``verdict``: no figures when not assessed; ``threshold``, else the model
    info's ``user_threshold``, else the card's)."""
    if threshold is None and model_info is not None:
        threshold = model_info.user_threshold
    return dataclasses.replace(
        model_event(action, model_info, file_sha256=file_sha256),
        result=verdict.reported_label(prediction),
        confidence=verdict.reported_confidence(prediction),
        p_tumour=verdict.reported_p_tumour(prediction),
        flags=verdict.flags_at(prediction, threshold),
    )


def record_classification(prediction: Any, *, file_sha256: str | None, model_info: ModelInfo | None = None,
                          action: str = "classify", log_path: Path | None = None) -> dict[str, Any]:
    """Appends the audit record of one classification (what the CLI and GUI call)."""
    event = classification_event(prediction, file_sha256=file_sha256, model_info=model_info,
                                 action=action)
    return append_event(event, log_path)


def verify_audit_log(path: Path | None = None) -> AuditVerification:
    """Walks the chain; the first line whose hash, link or sequence is wrong is reported."""
    path = Path(path) if path is not None else default_log_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return AuditVerification(False, 0, None, f"no audit log at {path}")
    except OSError as exc:
        return AuditVerification(False, 0, None, f"cannot read {path}: {exc.strerror}")
    prev_hash, n = GENESIS_HASH, 0
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        return AuditVerification(False, n, len(lines), "the last record is incomplete (no newline)")
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
        except ValueError:
            return AuditVerification(False, n, number, "not a JSON record", prev_hash)
        if not isinstance(record, dict) or "hash" not in record:
            return AuditVerification(False, n, number, "record has no hash", prev_hash)
        unknown = set(record) - set(RECORD_KEYS)
        if unknown:
            return AuditVerification(False, n, number, f"unexpected fields {sorted(unknown)}", prev_hash)
        if record_hash(record) != record.get("hash"):
            return AuditVerification(False, n, number, "record was modified (hash mismatch)", prev_hash)
        if record.get("prev") != prev_hash:
            return AuditVerification(
                False, n, number, "chain broken: a record before this one was deleted, inserted "
                "or reordered", prev_hash)
        if record.get("seq") != n + 1:
            return AuditVerification(False, n, number, f"sequence number {record.get('seq')} "
                                     f"where {n + 1} was expected", prev_hash)
        prev_hash, n = record["hash"], n + 1
    return AuditVerification(True, n, None, None, prev_hash)


def main(argv: Sequence[str] | None = None) -> int:
    """``audit verify [LOG]`` → exit 0 when the chain verifies, 1 when broken, 2 when absent;
    ``audit path`` prints where the log lives."""
    parser = argparse.ArgumentParser(prog="brainlens audit", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="check the hash chain of the audit log")
    verify.add_argument("log", nargs="?", type=Path, default=None,
                        help=f"log file (default: {default_log_path()})")
    sub.add_parser("path", help="print the audit log's location")
    args = parser.parse_args(argv)
    if args.command == "path":
        print(default_log_path())
        return 0
    result = verify_audit_log(args.log)
    print(result.summary())
    if result.ok:
        return 0
    return 2 if result.first_bad_line is None else 1


class AuditSink:
    """Audit records as a result sink of a batch run: one record per classified scan.

    Records are appended in groups of ``flush_every`` (one lock and one fsync per group, so a fast GPU
    run is not slowed by the log); ``close`` writes the rest. The flags are those under the model
    info's user threshold (``ModelInfo.with_threshold``), as on screen and in the CSV. ``append`` writes
    a group (default: ``append_events`` to ``log_path``); the GUI passes its ``AuditTrail.write``, which
    reports a failure once and returns False instead of raising.
    """

    def __init__(self, model_info: ModelInfo, *, action: str = BATCH_CLASSIFY, log_path: Path | None = None,
                 flush_every: int = 32, append: Callable[[list[AuditEvent]], object] | None = None) -> None:
        self.model_info, self.action = model_info, action
        self.flush_every = max(1, flush_every)
        self._append = append or (lambda events: append_events(events, log_path))
        self._pending: list[AuditEvent] = []
        self.written = 0

    def write(self, item: Any) -> None:
        prediction = getattr(item, "prediction", None)
        if prediction is None:  # failures and series summaries classify nothing
            return
        self._pending.append(classification_event(
            prediction, file_sha256=getattr(item, "image_sha256", None) or None,
            model_info=self.model_info, action=self.action))
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._pending and self._append(self._pending) is not False:
            self.written += len(self._pending)
        self._pending = []

    def close(self, summary: object = None) -> None:
        self.flush()


if __name__ == "__main__":
    raise SystemExit(main())
