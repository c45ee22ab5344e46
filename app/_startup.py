"""Start-up guard: a failure while BrainLens starts is shown and logged, never silent.

A double-clicked app has no terminal, so an exception at start (a missing library in the bundle,
an unreadable model, a broken Qt platform plugin) would otherwise just make the window not appear.
``run_guarded(main)`` runs the real entry point; if it raises, the traceback goes to a log file in
the user's log folder and the user sees a short native error dialog that names that file.

The dialog is chosen to work even when the failure *is* Qt: an existing QApplication is reused;
otherwise Qt is tried in a child process (Qt aborts the whole process when its platform plugin
cannot load, which no ``except`` can catch), then the platform's own tools (MessageBoxW on Windows,
osascript on macOS, zenity/kdialog/xmessage on Linux), then stderr. Headless runs
(``QT_QPA_PLATFORM=offscreen``, no display, or ``BRAINLENS_NO_DIALOG=1``) only use stderr.

Native crashes (segfault, abort) are written by ``faulthandler`` to ``native-crash.log`` in the
same folder. Logs hold no patient identifiers: command-line paths are replaced by ``<path>``.
"""

from __future__ import annotations

import datetime
import faulthandler
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO

from app.core.version import app_version

APP_NAME = "BrainLens"
LOG_DIR_ENV = "BRAINLENS_LOG_DIR"
NO_DIALOG_ENV = "BRAINLENS_NO_DIALOG"
DIALOG_CHILD_ENV = "BRAINLENS_ERROR_DIALOG"  # path of a JSON file: run as the dialog child
DIALOG_TIMEOUT_ENV = "BRAINLENS_DIALOG_TIMEOUT_MS"  # tests: close the Qt dialog by itself
KEEP_LOGS = 20
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc")

_fault_file: IO[str] | None = None


def log_dir() -> Path:
    """The per-user folder for BrainLens logs (created on demand by the writers)."""
    if os.environ.get(LOG_DIR_ENV):
        return Path(os.environ[LOG_DIR_ENV])
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / APP_NAME / "Logs"
    if sys.platform == "darwin":
        return home / "Library" / "Logs" / APP_NAME
    state = os.environ.get("XDG_STATE_HOME") or str(home / ".local" / "state")
    return Path(state) / "brainlens" / "log"


def _writable_log_dir() -> Path:
    for folder in (log_dir(), Path(tempfile.gettempdir()) / "brainlens-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".write-test"
            probe.write_text("", encoding="utf-8")
            probe.unlink()
            return folder
        except OSError:
            continue
    raise OSError("no writable folder for the BrainLens log")


def redacted_argv(argv: list[str]) -> list[str]:
    """Options are kept; anything else (file names can contain patient names) becomes <path>."""
    return [arg if arg.startswith("-") else "<path>" for arg in argv]


def write_crash_log(error: BaseException, *, argv: list[str] | None = None) -> Path:
    """Writes the traceback and the environment facts support needs; returns the file."""
    folder = _writable_log_dir()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = folder / f"startup-error-{stamp}.log"
    lines = [
        f"{APP_NAME} start-up error, {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"version: {app_version()}",
        f"python: {sys.version.split()[0]} ({sys.executable if not _frozen() else 'bundled'})",
        f"platform: {platform.platform()}",
        f"frozen: {_frozen()}",
        f"arguments: {redacted_argv(list(sys.argv[1:] if argv is None else argv))}",
        "",
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    logs = sorted(folder.glob("startup-error-*.log"))
    for old in logs[:-KEEP_LOGS]:
        try:
            old.unlink()
        except OSError:
            pass


def _frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def user_message(error: BaseException, log_path: Path | None) -> str:
    """The dialog text: what failed in plain words and where the technical report is."""
    try:
        from app.core.errors import BrainLensError  # pure Python, no Qt
    except Exception:  # noqa: BLE001 - the package itself may be what is broken
        BrainLensError = ()  # type: ignore[assignment]  # noqa: N806

    if isinstance(error, BrainLensError):
        reason = str(error)
    elif isinstance(error, ImportError):
        reason = f"A part of the program is missing or damaged ({error}). Reinstalling BrainLens may fix this."
    else:
        reason = f"An unexpected error occurred: {type(error).__name__}: {error}"
    text = f"{APP_NAME} could not start.\n\n{reason}"
    if log_path is not None:
        text += f"\n\nA technical report was saved to:\n{log_path}\nPlease send it to your IT support."
    return text


def is_headless() -> bool:
    if os.environ.get(NO_DIALOG_ENV, "") not in ("", "0"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in HEADLESS_PLATFORMS:
        return True
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _to_stderr(text: str) -> None:
    stream = sys.stderr  # None in a windowed (no console) bundle on Windows
    if stream is not None:
        try:
            print(text, file=stream, flush=True)
        except (OSError, ValueError):
            pass


def show_error_dialog(title: str, text: str, details: str = "") -> str:
    """Shows the error by the first method that works; returns its name ("qt", "zenity", ...)."""
    _to_stderr(text)
    if is_headless():
        return "stderr"
    if _qt_in_process(title, text, details):
        return "qt"
    if _qt_in_child(title, text, details):
        return "qt-child"
    return _native_dialog(title, text) or "stderr"


def _qt_in_process(title: str, text: str, details: str) -> bool:
    """Only when a QApplication already runs: creating one could abort the process."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    if widgets is None or widgets.QApplication.instance() is None:
        return False
    try:
        _exec_message_box(widgets, title, text, details)
        return True
    except Exception:  # noqa: BLE001 - fall through to the next method
        return False


def _exec_message_box(widgets, title: str, text: str, details: str) -> None:
    box = widgets.QMessageBox()
    box.setIcon(widgets.QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(text)
    if details:
        box.setDetailedText(details)
    timeout = int(os.environ.get(DIALOG_TIMEOUT_ENV, "0") or 0)
    if timeout > 0:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(timeout, box.accept)
    box.exec()


def _child_command() -> list[str]:
    if _frozen():
        return [sys.executable]  # the bundle's entry calls run_guarded, which sees the env var
    return [sys.executable, "-m", "app._startup"]


def _qt_in_child(title: str, text: str, details: str, timeout_s: float = 600) -> bool:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump({"title": title, "text": text, "details": details}, handle)
    env = dict(os.environ, **{DIALOG_CHILD_ENV: handle.name})
    try:
        done = subprocess.run(
            _child_command(), env=env, timeout=timeout_s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        Path(handle.name).unlink(missing_ok=True)


def dialog_child(spec_path: str) -> int:
    """The child process's job: show one QMessageBox from the JSON spec, exit 0 if shown."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([APP_NAME])
    _exec_message_box(QtWidgets, spec["title"], spec["text"], spec.get("details", ""))
    del app
    return 0


def _native_dialog(title: str, text: str) -> str | None:
    try:
        if sys.platform == "win32":
            import ctypes

            ctypes.windll.user32.MessageBoxW(None, text, title, 0x10)  # MB_ICONERROR
            return "messagebox"
        if sys.platform == "darwin":
            quoted = [json.dumps(value, ensure_ascii=False) for value in (title, text)]
            script = f"display alert {quoted[0]} message {quoted[1]} as critical"
            subprocess.run(["osascript", "-e", script], check=True, timeout=600)
            return "osascript"
        for tool, args in (
            ("zenity", ["--error", f"--title={title}", f"--text={text}", "--no-markup"]),
            ("kdialog", ["--title", title, "--error", text]),
            ("xmessage", ["-center", text]),
        ):
            if shutil.which(tool):
                subprocess.run([tool, *args], timeout=600)
                return tool
    except (OSError, subprocess.SubprocessError, AttributeError):
        pass
    return None


def enable_native_crash_log() -> Path | None:
    """Routes faulthandler (segfault/abort tracebacks) to native-crash.log; None if impossible."""
    global _fault_file
    if _fault_file is not None:  # already on (run_guarded may be nested)
        return Path(_fault_file.name)
    try:
        path = _writable_log_dir() / "native-crash.log"
        _fault_file = open(path, "a", encoding="utf-8")  # must stay open
        faulthandler.enable(file=_fault_file, all_threads=True)
        return path
    except (OSError, RuntimeError, ValueError):
        return None


def run_guarded(main: Callable[[], int | None], *, argv: list[str] | None = None) -> int:
    """Runs ``main``; any exception becomes a log file plus an error dialog and exit status 1.

    ``SystemExit`` passes through (a normal, deliberate exit); Ctrl+C returns 130.
    """
    if os.environ.get(DIALOG_CHILD_ENV):
        return dialog_child(os.environ[DIALOG_CHILD_ENV])
    enable_native_crash_log()
    try:
        result = main()
        return int(result or 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        return 130
    except BaseException as error:  # noqa: BLE001 - this is the last line of defence
        try:
            log_path: Path | None = write_crash_log(error, argv=argv)
        except OSError:
            log_path = None
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        show_error_dialog(f"{APP_NAME} could not start", user_message(error, log_path), details)
        return 1


if __name__ == "__main__":  # the dialog child when not frozen: python -m app._startup
    if os.environ.get(DIALOG_CHILD_ENV):
        raise SystemExit(dialog_child(os.environ[DIALOG_CHILD_ENV]))
    raise SystemExit("usage: BRAINLENS_ERROR_DIALOG=<spec.json> python -m app._startup")
