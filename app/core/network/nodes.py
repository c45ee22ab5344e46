"""PACS nodes the user configured, stored in the user's config folder; their secrets in the keyring.

A node is either a DICOM node (AE title, host, port; BrainLens's own AE title and, for C-MOVE, the
port its storage SCP listens on) or a DICOMweb service (a base URL, HTTP basic auth or a bearer
token, an optional CA file for TLS). The JSON file (``pacs_nodes.json`` under platformdirs'
``user_config_dir``) never holds a password or token: those live in the system keyring under the
service ``BrainLens PACS`` and the node's name, and ``PacsNode.__repr__`` shows no secret.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from app.core.errors import PacsError

ENV_CONFIG_DIR = "BRAINLENS_CONFIG_DIR"
NODES_FILE = "pacs_nodes.json"
KEYRING_SERVICE = "BrainLens PACS"
DIMSE, DICOMWEB = "dimse", "dicomweb"
AUTH_NONE, AUTH_BASIC, AUTH_BEARER = "none", "basic", "bearer"
DEFAULT_TIMEOUT_S = 30.0
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 6.2: AE, 16 chars, no backslash


@dataclass(frozen=True)
class PacsNode:
    """One configured PACS. ``kind`` is "dimse" or "dicomweb"; the other kind's fields are ignored."""

    name: str
    kind: str = DIMSE
    ae_title: str = ""  # the node's (called) AE title
    host: str = ""
    port: int = 104
    calling_ae_title: str = "BRAINLENS"  # ours
    move_port: int | None = None  # our storage SCP's port for C-MOVE (the node must know us)
    url: str = ""  # DICOMweb base URL, e.g. https://pacs.example.org/dicom-web
    auth: str = AUTH_NONE  # "none", "basic" or "bearer"
    username: str = ""
    ca_file: str = ""  # PEM bundle to trust for TLS (empty: the system's)
    timeout_s: float = DEFAULT_TIMEOUT_S  # every network call gives up after this long

    def validated(self) -> PacsNode:
        """This node, or a ``PacsError`` saying which field is wrong."""
        if not self.name.strip():
            raise PacsError("A PACS node needs a name.")
        if self.timeout_s <= 0:
            raise PacsError(f"Node {self.name}: the timeout must be more than 0 seconds.")
        if self.kind == DIMSE:
            for label, title in (("AE title", self.ae_title), ("calling AE title", self.calling_ae_title)):
                if not _AE_TITLE.match(title) or not title.strip():
                    raise PacsError(f"Node {self.name}: the {label} must be 1 to 16 characters, no backslash.")
            if not self.host.strip():
                raise PacsError(f"Node {self.name}: a DICOM node needs a host name or address.")
            for label, port in (("port", self.port), ("C-MOVE port", self.move_port)):
                if port is not None and not 1 <= int(port) <= 65535:
                    raise PacsError(f"Node {self.name}: the {label} must be between 1 and 65535.")
        elif self.kind == DICOMWEB:
            if not re.match(r"^https?://[^/\s]+", self.url):
                raise PacsError(f"Node {self.name}: a DICOMweb URL starts with http:// or https://.")
            if self.auth not in (AUTH_NONE, AUTH_BASIC, AUTH_BEARER):
                raise PacsError(f"Node {self.name}: unknown authentication {self.auth!r}.")
            if self.auth == AUTH_BASIC and not self.username:
                raise PacsError(f"Node {self.name}: basic authentication needs a user name.")
            if self.ca_file and not Path(self.ca_file).is_file():
                raise PacsError(f"Node {self.name}: the CA file {self.ca_file} does not exist.")
        else:
            raise PacsError(f"Node {self.name}: unknown kind {self.kind!r} (dimse or dicomweb).")
        return self

    @property
    def address(self) -> str:
        """Where the node is, in words (no secret in it)."""
        if self.kind == DICOMWEB:
            return self.url
        return f"{self.ae_title}@{self.host}:{self.port}"

    @property
    def needs_secret(self) -> bool:
        return self.kind == DICOMWEB and self.auth in (AUTH_BASIC, AUTH_BEARER)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PacsNode:
        known = {f.name for f in fields(cls)}
        node = cls(**{k: v for k, v in data.items() if k in known})
        if node.move_port is not None:
            node = replace(node, move_port=int(node.move_port))
        return replace(node, port=int(node.port), timeout_s=float(node.timeout_s))


def config_dir() -> Path:
    """The per-user BrainLens config folder (``BRAINLENS_CONFIG_DIR`` overrides; not created here)."""
    override = os.environ.get(ENV_CONFIG_DIR)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("BrainLens", appauthor=False))


class SecretStore:
    """Passwords and tokens in the system keyring (``keyring``), one per node name."""

    def get(self, node_name: str) -> str | None:
        import keyring

        try:
            return keyring.get_password(KEYRING_SERVICE, node_name)
        except Exception as exc:  # keyring backends raise their own errors
            raise PacsError(f"The system keyring could not be read: {type(exc).__name__}.") from exc

    def set(self, node_name: str, secret: str) -> None:
        import keyring

        try:
            keyring.set_password(KEYRING_SERVICE, node_name, secret)
        except Exception as exc:
            raise PacsError("The password could not be saved: no usable system keyring "
                            f"({type(exc).__name__}). It was not written anywhere else.") from exc

    def delete(self, node_name: str) -> None:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, node_name)
        except PasswordDeleteError:
            pass
        except Exception as exc:
            raise PacsError(f"The password could not be removed from the keyring: {type(exc).__name__}.") from exc


class NodeStore:
    """The configured nodes (a JSON file without secrets) and their secrets (``SecretStore``)."""

    def __init__(self, path: Path | None = None, secrets: SecretStore | None = None) -> None:
        self.path = Path(path) if path is not None else config_dir() / NODES_FILE
        self.secrets = secrets or SecretStore()

    def nodes(self) -> list[PacsNode]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise PacsError(f"The PACS node settings {self.path} cannot be read: {exc}") from exc
        try:
            return [PacsNode.from_json(entry) for entry in data.get("nodes", [])]
        except (TypeError, ValueError, AttributeError) as exc:
            raise PacsError(f"The PACS node settings {self.path} are damaged: {exc}") from exc

    def names(self) -> list[str]:
        return [node.name for node in self.nodes()]

    def get(self, name: str) -> PacsNode:
        for node in self.nodes():
            if node.name == name:
                return node
        known = ", ".join(self.names()) or "none is configured yet (Tools ▸ PACS nodes, or `brainlens pacs add`)"
        raise PacsError(f"There is no PACS node called {name!r}; configured: {known}.")

    def require(self, node: PacsNode) -> PacsNode:
        """``node`` if it is exactly a configured node; otherwise a ``PacsError`` (nothing is contacted)."""
        if node not in self.nodes():
            raise PacsError(f"BrainLens connects only to configured PACS nodes; {node.address} is not one. "
                            "Add it under Tools ▸ PACS nodes first.")
        return node

    def save(self, node: PacsNode, secret: str | None = None) -> None:
        """Adds or replaces the node called ``node.name``; ``secret`` (when given) goes to the keyring."""
        node = node.validated()
        others = [n for n in self.nodes() if n.name != node.name]
        if secret is not None:
            self.secrets.set(node.name, secret)
        self._write(others + [node])

    def remove(self, name: str) -> None:
        self._write([n for n in self.nodes() if n.name != name])
        self.secrets.delete(name)

    def secret(self, node: PacsNode) -> str | None:
        return self.secrets.get(node.name) if node.needs_secret else None

    def _write(self, nodes: list[PacsNode]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_suffix(".json.part")
        part.write_text(json.dumps({"nodes": [n.to_json() for n in nodes]}, indent=2), encoding="utf-8")
        os.replace(part, self.path)
