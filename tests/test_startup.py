"""The start-up guard: failures at start are logged and shown, never silent."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app import _startup
from app.core.errors import ModelLoadError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def logs(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "logs"
    monkeypatch.setenv(_startup.LOG_DIR_ENV, str(folder))
    monkeypatch.setattr(_startup, "enable_native_crash_log", lambda: None)  # keep pytest's faulthandler
    return folder


def _fail(error: BaseException):
    def main():
        raise error

    return main


def test_a_successful_start_returns_mains_status(logs):
    assert _startup.run_guarded(lambda: None) == 0
    assert _startup.run_guarded(lambda: 3) == 3
    with pytest.raises(SystemExit):
        _startup.run_guarded(lambda: sys.exit(2))
    assert not logs.exists() or not list(logs.glob("startup-error-*.log"))


def test_a_failure_writes_a_log_and_tells_the_user_where(logs, monkeypatch, capsys):
    monkeypatch.setenv(_startup.NO_DIALOG_ENV, "1")
    status = _startup.run_guarded(
        _fail(RuntimeError("graphics driver said no")), argv=["--self-test", "/data/Doe_Jane/IM0001.dcm"]
    )
    assert status == 1
    [log] = list(logs.glob("startup-error-*.log"))
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "RuntimeError: graphics driver said no" in text
    assert "'--self-test', '<path>'" in text and "Doe_Jane" not in text
    err = capsys.readouterr().err
    assert "BrainLens could not start" in err and str(log) in err


def test_messages_are_plain_for_known_errors():
    known = _startup.user_message(ModelLoadError("The model file is damaged."), None)
    assert known == "BrainLens could not start.\n\nThe model file is damaged."
    missing = _startup.user_message(ImportError("No module named 'cv2'"), Path("/tmp/x.log"))
    assert "missing or damaged" in missing and "Reinstalling" in missing and "/tmp/x.log" in missing


def test_log_folder_follows_the_platform_convention(monkeypatch, tmp_path):
    monkeypatch.delenv(_startup.LOG_DIR_ENV, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert _startup.log_dir() == tmp_path / "state" / "brainlens" / "log"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", "C:/Users/u/AppData/Local")
    assert _startup.log_dir() == Path("C:/Users/u/AppData/Local/BrainLens/Logs")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _startup.log_dir() == Path.home() / "Library" / "Logs" / "BrainLens"


def test_only_the_newest_logs_are_kept(logs, monkeypatch):
    monkeypatch.setenv(_startup.NO_DIALOG_ENV, "1")
    logs.mkdir(parents=True)
    for i in range(_startup.KEEP_LOGS + 5):
        (logs / f"startup-error-20200101-0000{i:02d}-000000.log").write_text("old")
    _startup.run_guarded(_fail(ValueError("x")), argv=[])
    kept = sorted(logs.glob("startup-error-*.log"))
    assert len(kept) == _startup.KEEP_LOGS
    assert "ValueError: x" in kept[-1].read_text()


def test_an_unwritable_log_folder_falls_back_to_temp(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(_startup.LOG_DIR_ENV, str(blocker / "logs"))  # a folder below a file
    monkeypatch.setattr(_startup.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    path = _startup.write_crash_log(RuntimeError("x"), argv=[])
    assert path.parent == tmp_path / "tmp" / "brainlens-logs"


@pytest.mark.parametrize(
    "env, headless",
    [
        ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, True),
        ({"DISPLAY": ":0"}, False),
        ({}, True),  # Linux without X11 or Wayland
        ({"DISPLAY": ":0", "BRAINLENS_NO_DIALOG": "1"}, True),
    ],
)
def test_headless_detection(monkeypatch, env, headless):
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "BRAINLENS_NO_DIALOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", "linux")
    assert _startup.is_headless() is headless


def test_without_qt_a_linux_desktop_tool_shows_the_error(monkeypatch, tmp_path):
    record = tmp_path / "zenity-args.json"
    tool = tmp_path / "bin" / "zenity"
    tool.parent.mkdir()
    tool.write_text(f'#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, "w"))\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(_startup, "is_headless", lambda: False)
    # as if Qt cannot start (a QApplication left by an earlier test would otherwise get a modal box)
    monkeypatch.setattr(_startup, "_qt_in_process", lambda *a: False)
    monkeypatch.setattr(_startup, "_qt_in_child", lambda *a: False)
    used = _startup.show_error_dialog("BrainLens could not start", "BrainLens could not start.\n\nx")
    assert used == "zenity"
    assert json.loads(record.read_text())[:2] == ["--error", "--title=BrainLens could not start"]


def _run_child(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` from the repository, with no BRAINLENS_* settings but ``extra_env`` and offscreen Qt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINLENS_")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO), **extra_env)
    return subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_the_qt_dialog_child_shows_a_message_box_and_exits_0(tmp_path):
    spec = tmp_path / "dialog.json"
    spec.write_text(json.dumps({"title": "t", "text": "BrainLens could not start.", "details": "tb"}))
    done = _run_child("-m", "app._startup", BRAINLENS_ERROR_DIALOG=str(spec), BRAINLENS_DIALOG_TIMEOUT_MS="200")
    assert done.returncode == 0, done.stderr


def test_a_failing_program_exits_1_with_the_reason_on_stderr(tmp_path):
    code = (
        "from app._startup import run_guarded\n"
        "def main():\n    import brainlens_missing_module\n"
        "raise SystemExit(run_guarded(main))\n"
    )
    done = _run_child("-c", code, BRAINLENS_LOG_DIR=str(tmp_path))
    assert done.returncode == 1
    assert "A part of the program is missing or damaged" in done.stderr
    [log] = list(tmp_path.glob("startup-error-*.log"))
    assert "ModuleNotFoundError" in log.read_text()


def test_a_native_crash_leaves_a_python_traceback_in_the_log(tmp_path):
    code = "import ctypes\nfrom app._startup import run_guarded\nrun_guarded(lambda: ctypes.string_at(0))\n"
    done = _run_child("-c", code, BRAINLENS_LOG_DIR=str(tmp_path))
    assert done.returncode != 0
    crash = (tmp_path / "native-crash.log").read_text()
    assert "Fatal Python error" in crash and "string_at" in crash


def test_a_running_qt_application_shows_the_dialog_in_process(qapp, monkeypatch):
    monkeypatch.setattr(_startup, "is_headless", lambda: False)
    monkeypatch.setenv(_startup.DIALOG_TIMEOUT_ENV, "100")
    assert _startup.show_error_dialog("t", "BrainLens could not start.", "details") == "qt"
