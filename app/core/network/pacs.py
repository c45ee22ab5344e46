"""One way to talk to a configured node, DICOM or DICOMweb: echo, find, retrieve, send.

``PacsConnection`` refuses a node the user did not configure (``NodeStore.require``) before any
socket is opened, fetches the node's secret from the keyring, and writes an audit record for every
query, retrieval and send: the action, the node's name, how many series/images/objects and the
outcome; never a patient name, ID, UID or query value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.core.errors import PacsError
from app.core.network import dicomweb, dimse
from app.core.network.cache import RetrieveResult, cache_root, series_folder
from app.core.network.nodes import DICOMWEB, NodeStore, PacsNode
from app.core.network.query import SeriesMatch, StudyQuery
from app.core.runs.progress import CancelToken, Progress

GET, MOVE, WADO = "get", "move", "wado"
RETRIEVE_METHODS = (GET, MOVE, WADO)


class PacsConnection:
    """Operations on one configured node. ``audit_log``: where records go (default: the user's log)."""

    def __init__(self, node: PacsNode, store: NodeStore, *, audit: bool = True,
                 audit_log: Path | None = None) -> None:
        self.node = store.require(node).validated()
        self._secret = store.secret(self.node)
        self.audit, self.audit_log = audit, audit_log
        self.audit_problem: str | None = None  # set when a record could not be written

    def __repr__(self) -> str:  # no secret
        return f"PacsConnection({self.node.name!r}, {self.node.address!r})"

    @property
    def is_dicomweb(self) -> bool:
        return self.node.kind == DICOMWEB

    def echo(self) -> None:
        if self.is_dicomweb:
            dicomweb.echo(self.node, self._secret)
        else:
            dimse.echo(self.node)

    def find(self, query: StudyQuery) -> list[SeriesMatch]:
        try:
            if self.is_dicomweb:
                matches = dicomweb.find(self.node, self._secret, query.validated())
            else:
                matches = dimse.find(self.node, query.validated())
        except PacsError:
            self._record("pacs_find", None, "failed")
            raise
        self._record("pacs_find", len(matches), "ok")
        return matches

    def retrieve(self, match: SeriesMatch, *, method: str | None = None, root: Path | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 cancel: CancelToken | None = None) -> RetrieveResult:
        """Retrieves one series into the cache (``root``/<series UID>/); see ``RetrieveResult.complete``."""
        method = method or (WADO if self.is_dicomweb else GET)
        if method not in RETRIEVE_METHODS or (method == WADO) != self.is_dicomweb:
            allowed = "wado" if self.is_dicomweb else "get or move"
            raise PacsError(f"{self.node.name}: retrieve with {allowed}, not {method!r}.")
        try:
            folder = series_folder(root or cache_root(), match.series_uid)
        except ValueError as exc:
            raise PacsError(f"{self.node.name} returned a series without a valid Series Instance UID.") from exc
        try:
            if method == WADO:
                result = dicomweb.retrieve(self.node, self._secret, match, folder,
                                           on_progress=on_progress, cancel=cancel)
            elif method == MOVE:
                result = dimse.retrieve_move(self.node, match, folder, on_progress=on_progress, cancel=cancel)
            else:
                result = dimse.retrieve_get(self.node, match, folder, on_progress=on_progress, cancel=cancel)
        except PacsError:
            self._record("pacs_retrieve", None, "failed")
            raise
        outcome = "complete" if result.complete else ("cancelled" if result.cancelled else "incomplete")
        self._record("pacs_retrieve", result.received, outcome)
        return result

    def send(self, paths: list[Path], *, on_progress: Callable[[Progress], None] | None = None) -> list[str]:
        """Sends DICOM files (C-STORE or STOW-RS); only ever called on the user's request."""
        if not paths:
            raise PacsError("There is nothing to send.")
        try:
            if self.is_dicomweb:
                stored = dicomweb.store(self.node, self._secret, list(paths), on_progress=on_progress)
            else:
                stored = dimse.store(self.node, list(paths), on_progress=on_progress)
        except PacsError:
            self._record("pacs_send", None, "failed")
            raise
        self._record("pacs_send", len(stored), "ok")
        return stored

    def _record(self, action: str, count: int | None, outcome: str) -> None:
        if not self.audit:
            return
        from app.core.reports.audit import AuditError, AuditEvent, append_event

        try:
            append_event(AuditEvent(action=action, node=self.node.name, count=count, result=outcome),
                         self.audit_log)
        except AuditError as exc:
            self.audit_problem = str(exc)
