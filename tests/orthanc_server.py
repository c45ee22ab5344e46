"""A real Orthanc PACS for the tests: Debian's ``orthanc`` + ``orthanc-dicomweb``, started on loopback.

The server runs from a temporary JSON config and storage folder (never the Debian service's own),
with HTTP basic auth and ``DicomCheckCalledAet`` on (a wrong AE title is rejected). Its HTTP is plain:
Debian's Orthanc 1.10.1 crashes (SIGSEGV) on the first HTTPS request with OpenSSL 3, so TLS is tested
through ``tls_proxy`` (a TLS front with a self-signed certificate made by ``openssl``).
BrainLens is registered as the modality ``BRAINLENS`` whose storage port receives C-MOVEs.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ORTHANC_BINARY = "Orthanc"
DICOMWEB_PLUGIN_PATHS = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
ORTHANC_AET = "ORTHANC"
BRAINLENS_AET = "BRAINLENS"
USER, PASSWORD = "brainlens", "pacs-test-secret-7Q"


@dataclass(frozen=True)
class OrthancServer:
    dicom_port: int
    http_port: int
    move_port: int  # where BrainLens's storage SCP listens for C-MOVE
    ca_file: Path
    storage: Path
    log_file: Path

    @property
    def dicomweb_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def rest(self, method: str, path: str, body: bytes | None = None) -> bytes:
        """Orthanc's REST API (used by tests to look behind the DICOM interface)."""
        import base64

        request = urllib.request.Request(self.rest_url + path, data=body, method=method)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.read()

    def rest_json(self, method: str, path: str, body: bytes | None = None):
        return json.loads(self.rest(method, path, body) or b"null")

    def clear(self) -> None:
        for study in self.rest_json("GET", "/studies"):
            self.rest("DELETE", f"/studies/{study}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why Orthanc cannot run here, or None."""
    if shutil.which(ORTHANC_BINARY) is None:
        return "Orthanc is not installed (Debian: apt-get install orthanc orthanc-dicomweb; `make test` does it as root)"
    if _plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (Debian: apt-get install orthanc-dicomweb)"
    if shutil.which("openssl") is None:
        return "openssl is not installed (needed for the test server's certificate)"
    return None


def _plugin() -> str | None:
    return next((p for p in DICOMWEB_PLUGIN_PATHS if Path(p).is_file()), None)


def certificate(folder: Path) -> tuple[Path, Path]:
    """(ca_file, orthanc_pem): a self-signed certificate for 127.0.0.1; Orthanc wants key + cert in one file."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    combined = folder / "orthanc.pem"
    combined.write_bytes(key.read_bytes() + cert.read_bytes())
    return cert, combined


def config(storage: Path, dicom_port: int, http_port: int, move_port: int) -> dict:
    return {
        "Name": "BrainLensTestPACS",
        "StorageDirectory": str(storage / "db"),
        "IndexDirectory": str(storage / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomModalities": {"brainlens": [BRAINLENS_AET, "127.0.0.1", move_port]},
        "DicomScuTimeout": 5,
        "DicomScpTimeout": 10,
        "StableAge": 1,
        "HttpThreadsCount": 4,
        "ConcurrentJobs": 2,
        "Plugins": [_plugin()],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }


def start(folder: Path) -> tuple[subprocess.Popen, OrthancServer]:
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, _pem = certificate(folder)
    ports = [free_port() for _ in range(3)]
    while len(set(ports)) < 3:
        ports = [free_port() for _ in range(3)]
    dicom_port, http_port, move_port = ports
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config(folder, dicom_port, http_port, move_port), indent=1))
    log_file = folder / "orthanc.log"
    log = log_file.open("wb")
    process = subprocess.Popen([ORTHANC_BINARY, str(config_path)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               cwd=folder)
    server = OrthancServer(dicom_port, http_port, move_port, ca_file, folder, log_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited at start-up: {log_file.read_text(errors='replace')[-2000:]}")
        try:
            server.rest("GET", "/system")
            return process, server
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"Orthanc did not answer within 60 s: {log_file.read_text(errors='replace')[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class TlsProxy:
    """A TLS front for Orthanc's plain HTTP port (self-signed certificate for 127.0.0.1).

    Each accepted TLS connection is piped, both ways, to ``127.0.0.1:target_port``.
    """

    def __init__(self, target_port: int, folder: Path) -> None:
        import threading

        self.ca_file, _ = certificate(Path(folder))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(self.ca_file, Path(folder) / "key.pem")
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.5)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                raw, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        import threading

        raw.settimeout(10)
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # the client did not trust the certificate
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)

        def pipe(source, sink) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.close()
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()
