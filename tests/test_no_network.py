"""BrainLens never opens a network connection: not the core, not the CLI, not the GUI's start-up.

Three nets, from cheap to thorough:
- in-process: ``socket`` connect/create_connection/getaddrinfo raise (core API, GUI window);
- a CLI subprocess with a ``sitecustomize`` that does the same before anything is imported;
- the CLI and the GUI under ``strace -f -e trace=connect``: catches native code too (ONNX Runtime,
  Qt), which never goes through Python's ``socket`` module. Local IPC (AF_UNIX, AF_NETLINK) is
  allowed; any AF_INET/AF_INET6 connect fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import mri_data
from tests.model_fixtures import tiny_model

REPO = Path(__file__).resolve().parents[1]

GUARD = textwrap.dedent(
    """
    import socket, sys

    class NetworkUsed(RuntimeError):
        pass

    def _refuse(what):
        def refuse(*args, **kwargs):
            sys.stderr.write(f"NETWORK-ATTEMPT {what} {args[1:2] or args[:1]}\\n")
            raise NetworkUsed(f"BrainLens tried to use the network ({what})")
        return refuse

    _connect = socket.socket.connect
    def _connect_unless_local(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            return _refuse("connect")(self, address)
        return _connect(self, address)

    socket.socket.connect = _connect_unless_local
    socket.socket.connect_ex = _refuse("connect_ex")
    socket.create_connection = _refuse("create_connection")
    socket.getaddrinfo = _refuse("getaddrinfo")
    socket.gethostbyname = _refuse("gethostbyname")
    """
)


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """Every network attempt in this process raises and is recorded."""
    attempts: list[str] = []
    original = socket.socket.connect

    def refuse(what):
        def call(*args, **kwargs):
            attempts.append(f"{what} {args!r}")
            raise OSError(f"network use in a test: {what}")
        return call

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            return refuse("connect")(self, address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, refuse(name))
    return attempts


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    """Real scans of every kind the app reads: a DICOM series, a PNG, a JPG, a 16-bit TIFF."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("scans")
    mri_data.write_dicom_series(folder / "series", [60, 80, 100])
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(90))).save(folder / "axial.png")
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(70))).convert("RGB").save(folder / "axial.jpg")
    Image.fromarray((mri_data.axial_slice(110) * 200).astype("uint16")).save(folder / "axial16.tif")
    shutil.copy(mri_data.pydicom_file("MR_small.dcm"), folder / "mr_small.dcm")
    return folder


def test_the_guard_itself_catches_a_connection(no_network):
    with pytest.raises(OSError):
        socket.create_connection(("example.org", 80), timeout=1)
    with pytest.raises(OSError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", 9))
    assert len(no_network) == 2


def test_core_load_classify_report_without_network(no_network, scans, tiny_model, tmp_path):
    from app.core.runs.batch import run_batch
    from app.core.model.inference import Classifier
    from app.core.reports.results_io import CsvResultWriter

    classifier = Classifier(tiny_model, device="auto")
    writer = CsvResultWriter(tmp_path / "out.csv", classifier.card.class_names, classifier.model_sha256)
    items = list(run_batch([scans], classifier))
    for item in items:
        writer.write(item)
    writer.close()
    assert sum(getattr(i, "ok", False) for i in items) == 7
    assert no_network == []


def _env(extra_path: Path | None = None) -> dict[str, str]:
    paths = [str(p) for p in (extra_path, REPO) if p is not None]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), QT_QPA_PLATFORM="offscreen")
    env.pop("http_proxy", None)
    env.pop("https_proxy", None)
    return env


def _classify_command(scans: Path, model: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "app", "classify", str(scans), "--model", str(model),
            "--csv", str(out / "r.csv"), "--json", str(out / "r.json"), "--heatmaps", str(out / "maps")]


@pytest.fixture
def model_for_cli(request, tiny_model) -> Path:
    """The default model when built (the real thing), else the tiny test model."""
    default = REPO / "resources" / "models" / "brainlens-vgg16.onnx"
    return default if default.exists() else tiny_model


def test_cli_subprocess_with_sockets_disabled_classifies_real_scans(scans, model_for_cli, tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    done = subprocess.run(_classify_command(scans, model_for_cli, tmp_path), cwd=REPO, env=_env(guard),
                          capture_output=True, text=True, timeout=300)
    assert "NETWORK-ATTEMPT" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "r.csv").read_text().count("\n") == 8  # header + 7 scans


def test_onnxruntime_telemetry_is_off_in_the_cli(scans, tiny_model, tmp_path):
    """ONNX Runtime 1.29+ keeps a device id and an upload queue under ~/.cache/Microsoft and sends
    them to Microsoft unless ORT_DISABLE_TELEMETRY is set before it is imported (app/core/__init__)."""
    home = tmp_path / "home"
    home.mkdir()
    env = _env()
    env.pop("ORT_DISABLE_TELEMETRY", None)
    env.pop("XDG_CACHE_HOME", None)
    env["HOME"] = str(home)
    done = subprocess.run([sys.executable, "-m", "app", "classify", str(scans / "axial.png"), "--model", str(tiny_model)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (home / ".cache" / "Microsoft").exists()


def _inet_connects(trace: str) -> list[str]:
    """AF_INET/AF_INET6 connects, and files of ONNX Runtime's telemetry (its uploader's DNS look-up
    happens on a background thread, so only sometimes within a short run: its files always show)."""
    return [line for line in trace.splitlines()
            if re.search(r"connect\(.*AF_INET6?\b", line) or "DeveloperTools" in line]


def _strace_usable() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


needs_strace = pytest.mark.skipif(not _strace_usable(), reason="strace not installed or ptrace not permitted")


@needs_strace
def test_cli_under_strace_makes_no_inet_connection(scans, model_for_cli, tmp_path):
    trace = tmp_path / "trace.txt"
    command = ["strace", "-f", "-qq", "-e", "trace=connect,openat", "-o", str(trace), *_classify_command(scans, model_for_cli, tmp_path)]
    done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _inet_connects(trace.read_text()) == []


GUI_CHILD = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def exec_briefly(self=None):
        app = QApplication.instance()
        QTimer.singleShot(int(sys.argv[1]), app.quit)  # long enough to load the model and classify
        return _exec()

    _exec = QApplication.exec
    QApplication.exec = exec_briefly
    from app.ui.main import main
    code = main(sys.argv[2:])
    print("GUI-STARTED", code, flush=True)
    """
)


@needs_strace
@pytest.mark.gui
def test_gui_start_up_under_strace_makes_no_inet_connection(scans, model_for_cli, tmp_path):
    trace = tmp_path / "trace.txt"
    child = tmp_path / "gui_child.py"
    child.write_text(GUI_CHILD)
    env = _env()
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # settings of this run only
    command = ["strace", "-f", "-qq", "-e", "trace=connect,openat", "-o", str(trace), sys.executable, str(child), "6000",
               str(scans / "axial.png"), "--model", str(model_for_cli)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "GUI-STARTED 0" in done.stdout, done.stdout + done.stderr
    assert _inet_connects(trace.read_text()) == []


@pytest.mark.gui
def test_gui_window_opens_and_classifies_without_network(no_network, qtbot, scans, tiny_model, tmp_path):
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings_store=settings, model_path=tiny_model, load_model=False)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.model_ready, timeout=20000):
        window.reload_model()
    window.show()
    window.open_paths([scans / "axial.png"])
    qtbot.wait(1500)
    window.close()
    from app.ui import workers

    workers.await_workers(timeout_s=10.0)
    assert no_network == []
