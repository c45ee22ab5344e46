"""DICOM networking with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE and C-STORE.

One association per operation, as pynetdicom's own apps do; every association has explicit timeouts
(connection, ACSE, DIMSE, network: the node's ``timeout_s``), every response's status is checked,
and every failure becomes a ``PacsError`` that says what happened (refused, no answer, rejected and
why, connection lost) and names the node, never the patient.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
)
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated into globals() at import: invisible to mypy
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from app.core.errors import PacsError
from app.core.network.cache import InstanceWriter, RetrieveResult
from app.core.network.nodes import PacsNode
from app.core.network.query import SeriesMatch, StudyQuery
from app.core.runs.progress import CancelToken, Progress

ProgressCallback = Callable[[Progress], None]
# What a brain MRI study holds, plus what BrainLens itself writes back (SC, PDF, SR).
STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.128",  # PET Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray (presentation)
)
TRANSFER_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
                     JPEGBaseline8Bit, JPEGLosslessSV1, JPEG2000Lossless, JPEG2000, RLELossless]
SUCCESS, CANCELLED = 0x0000, 0xFE00
PENDING = (0xFF00, 0xFF01)
STORE_WARNINGS = (0xB000, 0xB006, 0xB007)


def _ae(node: PacsNode) -> AE:
    ae = AE(ae_title=node.calling_ae_title)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout_s
    return ae


def _reach(node: PacsNode) -> None:
    """Opens and closes a TCP connection first, so "refused", "no answer" and "unknown host" are told apart."""
    try:
        with socket.create_connection((node.host, int(node.port)), timeout=node.timeout_s):
            pass
    except ConnectionRefusedError as exc:
        raise PacsError(f"{node.name} ({node.address}) refused the connection: no DICOM service listens "
                        "on that port.") from exc
    except socket.gaierror as exc:
        raise PacsError(f"{node.name}: the host name {node.host!r} is unknown.") from exc
    except TimeoutError as exc:
        raise PacsError(f"{node.name} ({node.address}) did not answer within {node.timeout_s:g} s.") from exc
    except OSError as exc:
        raise PacsError(f"{node.name} ({node.address}) cannot be reached: {exc.strerror or exc}.") from exc


def _why_not(node: PacsNode, assoc) -> str:
    if assoc.is_rejected:
        primitive = assoc.acceptor.primitive
        reason = getattr(primitive, "reason_str", "") or "no reason given"
        return (f"{node.name} ({node.address}) rejected the association: {reason}. Check the node's AE "
                f"title and that it knows BrainLens's AE title {node.calling_ae_title!r}.")
    if assoc.is_aborted:
        return (f"{node.name} ({node.address}) ended the association request without accepting it, or did "
                f"not answer it within {node.timeout_s:g} s. Check the node's AE title and that it knows "
                f"BrainLens's AE title {node.calling_ae_title!r}.")
    return f"{node.name} ({node.address}) did not accept an association within {node.timeout_s:g} s."


@contextlib.contextmanager
def association(node: PacsNode, ae: AE, **kwargs) -> Iterator:
    _reach(node)
    assoc = ae.associate(node.host, int(node.port), ae_title=node.ae_title, **kwargs)
    if assoc.is_aborted:
        # A peer that rejects and closes at once can have its A-ASSOCIATE-RJ overtaken by the closed
        # socket in pynetdicom's reader: ask once more so the user gets the rejection's reason.
        assoc = ae.associate(node.host, int(node.port), ae_title=node.ae_title, **kwargs)
    if not assoc.is_established:
        raise PacsError(_why_not(node, assoc))
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _ended_by_peer(assoc, wait_s: float = 1.0) -> bool:
    """Whether the peer aborted (or closed) the association; its reactor thread may need a moment."""
    import time

    deadline = time.monotonic() + wait_s
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.02)
    return assoc.is_aborted


def _lost(node: PacsNode, what: str, assoc=None) -> PacsError:
    if assoc is not None and _ended_by_peer(assoc):
        return PacsError(f"{node.name} ({node.address}) aborted the association during {what}: it may not "
                         f"allow this from BrainLens's AE title {node.calling_ae_title!r} (check the node's "
                         "list of known modalities).")
    return PacsError(f"{node.name} ({node.address}): the connection was lost or timed out "
                     f"({node.timeout_s:g} s) during {what}.")


def _status_text(status: Dataset) -> str:
    code = int(status.Status)
    comment = status.get("ErrorComment", "")
    return f"status 0x{code:04X}" + (f", {comment}" if comment else "")


def echo(node: PacsNode) -> None:
    """C-ECHO: returns when the node answered with success, else raises ``PacsError``."""
    ae = _ae(node)
    ae.add_requested_context(Verification)
    with association(node, ae) as assoc:
        status = assoc.send_c_echo()
        if not status:
            raise _lost(node, "the echo", assoc)
        if int(status.Status) != SUCCESS:
            raise PacsError(f"{node.name} answered the echo with {_status_text(status)}.")


def find(node: PacsNode, query: StudyQuery, limit: int = 1000) -> list[SeriesMatch]:
    """C-FIND at series level (Study Root); at most ``limit`` matches (the rest is cancelled)."""
    ae = _ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    matches: list[SeriesMatch] = []
    with association(node, ae) as assoc:
        for status, identifier in assoc.send_c_find(query.identifier(), StudyRootQueryRetrieveInformationModelFind):
            if not status:
                raise _lost(node, "the query", assoc)
            code = int(status.Status)
            if code in PENDING and identifier is not None:
                matches.append(SeriesMatch.from_dataset(identifier))
                if len(matches) >= limit:
                    assoc.abort()
                    break
            elif code == SUCCESS:
                break
            else:
                raise PacsError(f"{node.name} refused the query ({_status_text(status)}).")
    return matches


def _retrieve_identifier(match: SeriesMatch) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = match.study_uid
    ds.SeriesInstanceUID = match.series_uid
    return ds


def _store_handler(writer: InstanceWriter, on_instance: Callable[[], None]):
    def handle(event) -> int:
        ok = writer.accept(event.encoded_dataset())
        on_instance()
        return SUCCESS if ok else 0xC210  # "cannot understand": the PACS counts it as failed
    return handle


def _follow(node: PacsNode, assoc, responses: Iterable, writer: InstanceWriter, expected: int | None,
            on_progress: ProgressCallback | None, cancel: CancelToken | None, what: str) -> RetrieveResult:
    """Reads C-GET/C-MOVE responses until the final one; the result says whether the series is whole."""
    failed, problems = 0, []
    for status, _identifier in responses:
        if cancel is not None and cancel.cancelled:
            assoc.abort()
            return writer.result(expected, cancelled=True)
        if not status:
            problems.append(f"the connection was lost or timed out ({node.timeout_s:g} s) during the {what}")
            break
        code = int(status.Status)
        remaining = status.get("NumberOfRemainingSuboperations")
        done = sum(int(status.get(k) or 0) for k in ("NumberOfCompletedSuboperations",
                                                     "NumberOfFailedSuboperations",
                                                     "NumberOfWarningSuboperations"))
        if remaining is not None:
            expected = done + int(remaining)
        if on_progress is not None:
            on_progress(Progress(expected, len(writer.files), f"{len(writer.files)} image(s) received"))
        if code in PENDING:
            continue
        failed = int(status.get("NumberOfFailedSuboperations") or 0)
        if expected is None or code == SUCCESS:
            expected = max(expected or 0, done) or expected
        if code == CANCELLED:
            return writer.result(expected, failed=failed, cancelled=True)
        if code not in (SUCCESS, 0xB000):
            problems.append(f"{node.name} ended the {what} with {_status_text(status)}")
        break
    if assoc.is_aborted and not problems:
        problems.append(f"{node.name} aborted the {what}")
    broken_on_our_side = writer.broken  # the PACS counts those as failed too: do not count them twice
    return writer.result(expected, failed=max(0, failed - broken_on_our_side), problems=problems)


def retrieve_get(node: PacsNode, match: SeriesMatch, folder: Path, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> RetrieveResult:
    """C-GET of one series into ``folder`` (the node sends the images on the same association)."""
    ae = _ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for uid in STORAGE_CLASSES:
        ae.add_requested_context(uid, TRANSFER_SYNTAXES)
    roles = [build_role(uid, scp_role=True) for uid in STORAGE_CLASSES]
    writer = InstanceWriter(folder)
    writer.discard_parts()
    handlers = [(evt.EVT_C_STORE, _store_handler(writer, lambda: None))]
    with association(node, ae, ext_neg=roles, evt_handlers=handlers) as assoc:
        responses = assoc.send_c_get(_retrieve_identifier(match), StudyRootQueryRetrieveInformationModelGet)
        return _follow(node, assoc, responses, writer, match.n_images, on_progress, cancel, "C-GET")


def retrieve_move(node: PacsNode, match: SeriesMatch, folder: Path, *, on_progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> RetrieveResult:
    """C-MOVE of one series to BrainLens's own storage SCP (listening on ``node.move_port`` meanwhile).

    The node must know BrainLens's AE title (``node.calling_ae_title``) with this machine's address
    and that port; the SCP accepts images only from the node's AE title.
    """
    if not node.move_port:
        raise PacsError(f"{node.name}: C-MOVE needs the port BrainLens listens on (node settings), "
                        "or retrieve with C-GET.")
    writer = InstanceWriter(folder)
    writer.discard_parts()
    scp = _ae(node)
    scp.require_calling_aet = [node.ae_title]
    for uid in STORAGE_CLASSES:
        scp.add_supported_context(uid, TRANSFER_SYNTAXES)
    try:
        server = scp.start_server(("", int(node.move_port)), block=False,
                                  evt_handlers=[(evt.EVT_C_STORE, _store_handler(writer, lambda: None))])
    except OSError as exc:
        raise PacsError(f"BrainLens cannot listen on port {node.move_port} for the C-MOVE "
                        f"({exc.strerror}); choose another port in the node settings.") from exc
    assert server is not None  # start_server returns None only when it blocks
    try:
        ae = _ae(node)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        with association(node, ae) as assoc:
            responses = assoc.send_c_move(_retrieve_identifier(match), node.calling_ae_title,
                                          StudyRootQueryRetrieveInformationModelMove)
            return _follow(node, assoc, responses, writer, match.n_images, on_progress, cancel, "C-MOVE")
    finally:
        server.shutdown()


def store(node: PacsNode, paths: list[Path], *, on_progress: ProgressCallback | None = None) -> list[str]:
    """C-STORE of ``paths`` on one association; returns the SOP Instance UIDs the node accepted.

    Raises ``PacsError`` if any file was refused (the message says how many and why).
    """
    datasets = [pydicom.dcmread(p) for p in paths]
    ae = _ae(node)
    for uid in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    stored: list[str] = []
    refused: list[str] = []
    with association(node, ae) as assoc:
        for n, ds in enumerate(datasets, start=1):
            status = assoc.send_c_store(ds)
            if not status:
                raise _lost(node, f"sending ({len(stored)} of {len(datasets)} stored)", assoc)
            if int(status.Status) in (SUCCESS, *STORE_WARNINGS):
                stored.append(str(ds.SOPInstanceUID))
            else:
                refused.append(_status_text(status))
            if on_progress is not None:
                on_progress(Progress(len(datasets), n, f"{n} of {len(datasets)} sent"))
    if refused:
        raise PacsError(f"{node.name} refused {len(refused)} of {len(datasets)} object(s): {refused[0]}.")
    return stored
