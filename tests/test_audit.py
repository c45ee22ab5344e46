"""The audit trail: records, chain verification, tamper detection, concurrent appends."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.model.identity import ModelInfo
from app.core.reports import audit
from app.core.reports.audit import AuditEvent, append_event, record_classification, verify_audit_log

REPO = Path(__file__).resolve().parent.parent


@dataclass
class _Prediction:  # the fields of app.core.model.inference.Prediction the audit reads
    predicted_class: str = "glioma"
    confidence: float = 0.912345
    p_tumour: float | None = 0.97
    flags: tuple[str, ...] = ()
    assessed: bool = True


MODEL = ModelInfo(name="brainlens-vgg16", version="1.0.0", sha256="ab" * 32, device="CPU",
                  class_names=("glioma", "notumor"))


def _write_log(path: Path, n: int) -> list[dict]:
    return [
        append_event(AuditEvent("classify", file_sha256=f"{i:064x}", result="glioma", confidence=0.5), path)
        for i in range(n)
    ]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_records_chain_and_verify(tmp_path):
    log = tmp_path / "audit.jsonl"
    records = _write_log(log, 3)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == audit.GENESIS_HASH
    assert records[1]["prev"] == records[0]["hash"]
    result = verify_audit_log(log)
    assert result.ok and result.n_records == 3 and result.last_hash == records[-1]["hash"]
    assert all(json.loads(line)["time"].endswith("Z") for line in _lines(log))


def test_classification_record_has_no_identifiers(tmp_path):
    log = tmp_path / "audit.jsonl"
    record = record_classification(_Prediction(), file_sha256="cd" * 32, model_info=MODEL,
                                   log_path=log)
    assert record["result"] == "glioma" and record["confidence"] == 0.9123
    assert record["model"] == "brainlens-vgg16 1.0.0" and record["device"] == "CPU"
    assert record["model_sha256"] == "ab" * 32
    assert set(record) <= set(audit.RECORD_KEYS)
    not_assessed = record_classification(_Prediction(assessed=False, flags=("out_of_distribution",)),
                                         file_sha256="ef" * 32, model_info=MODEL, log_path=log)
    assert not_assessed["result"] == "not assessed"
    assert not_assessed["flags"] == ["out_of_distribution"]
    assert verify_audit_log(log).ok


def test_edited_record_is_detected(tmp_path):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 4)
    lines = _lines(log)
    record = json.loads(lines[2])
    record["result"] = "no_tumor"
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    log.write_text("".join(lines))
    result = verify_audit_log(log)
    assert not result.ok and result.first_bad_line == 3 and "modified" in result.reason
    assert result.n_records == 2


def test_edited_record_with_recomputed_hash_breaks_the_next_link(tmp_path):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 4)
    lines = _lines(log)
    record = json.loads(lines[1])
    record["confidence"] = 0.99
    record["hash"] = audit.record_hash(record)  # a careful forger re-hashes the record...
    lines[1] = audit.canonical_json(record) + "\n"
    log.write_text("".join(lines))
    result = verify_audit_log(log)  # ...but the next record still points at the old hash
    assert not result.ok and result.first_bad_line == 3 and "chain broken" in result.reason


def test_deleted_record_is_detected(tmp_path):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 4)
    lines = _lines(log)
    del lines[1]
    log.write_text("".join(lines))
    result = verify_audit_log(log)
    assert not result.ok and result.first_bad_line == 2 and "chain broken" in result.reason


def test_reordered_records_are_detected(tmp_path):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 4)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_text("".join(lines))
    result = verify_audit_log(log)
    assert not result.ok and result.first_bad_line == 2


def test_incomplete_last_line_is_reported_and_blocks_appends(tmp_path):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 2)
    with log.open("a") as f:
        f.write('{"v":1,"seq":3')
    result = verify_audit_log(log)
    assert not result.ok and result.first_bad_line == 3
    with pytest.raises(audit.AuditError, match="incomplete"):
        _write_log(log, 1)


def test_missing_log(tmp_path):
    result = verify_audit_log(tmp_path / "none.jsonl")
    assert not result.ok and result.first_bad_line is None and "no audit log" in result.reason


def test_default_location_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLENS_DATA_DIR", str(tmp_path / "data"))
    record_classification(_Prediction(), file_sha256="00" * 32, model_info=MODEL)
    assert (tmp_path / "data" / "audit.jsonl").exists()
    monkeypatch.delenv("BRAINLENS_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert audit.default_log_path() == tmp_path / "xdg" / "brainlens" / "audit.jsonl"


def test_cli_verify_exit_codes(tmp_path, capsys):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 2)
    assert audit.main(["verify", str(log)]) == 0
    assert "OK: 2 record(s)" in capsys.readouterr().out
    log.write_text(log.read_text().replace("glioma", "meningioma", 1))
    assert audit.main(["verify", str(log)]) == 1
    assert "BROKEN at line 1" in capsys.readouterr().out
    assert audit.main(["verify", str(tmp_path / "absent.jsonl")]) == 2


def test_concurrent_appends_from_two_processes(tmp_path):
    log = tmp_path / "audit.jsonl"
    code = (
        "import sys\n"
        "from app.core.reports.audit import AuditEvent, append_event\n"
        "for i in range(40):\n"
        "    append_event(AuditEvent('classify', file_sha256=sys.argv[1] * 64, result='glioma'), sys.argv[2])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, tag, str(log)], cwd=REPO) for tag in "ab"]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    result = verify_audit_log(log)
    assert result.ok, result.summary()
    assert result.n_records == 80


def test_grouped_appends_chain_like_single_ones(tmp_path):
    log = tmp_path / "audit.jsonl"
    _write_log(log, 2)
    events = [AuditEvent("batch_classify", file_sha256=f"{i:064x}", result="pituitary") for i in range(5)]
    records = audit.append_events(events, log)
    assert [r["seq"] for r in records] == [3, 4, 5, 6, 7]
    assert records[1]["prev"] == records[0]["hash"]
    assert audit.append_events([], log) == []
    result = verify_audit_log(log)
    assert result.ok and result.n_records == 7
