"""DICOMweb with dicomweb-client: QIDO-RS (search), WADO-RS (retrieve) and STOW-RS (store).

Authentication is HTTP basic or a bearer token (the secret comes from the keyring, never from a
file); TLS is verified against the node's CA file when one is set, the system's otherwise. Every
request has the node's timeout. HTTP and TLS failures become ``PacsError`` messages that name the
node and what to check, never the patient.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from app.core.errors import PacsError
from app.core.network.cache import InstanceWriter, RetrieveResult
from app.core.network.nodes import AUTH_BASIC, AUTH_BEARER, PacsNode
from app.core.network.query import RETURN_KEYWORDS, SeriesMatch, StudyQuery
from app.core.runs.progress import CancelToken, Progress

ProgressCallback = Callable[[Progress], None]


def session(node: PacsNode, secret: str | None):
    """A ``requests`` session with the node's authentication and CA file."""
    import requests

    session = requests.Session()
    session.trust_env = False  # no proxy or netrc from the environment: only what the node says
    if node.auth == AUTH_BASIC:
        session.auth = (node.username, secret or "")
    elif node.auth == AUTH_BEARER:
        session.headers["Authorization"] = f"Bearer {secret or ''}"
    if node.ca_file:
        session.verify = node.ca_file
    return session


def client(node: PacsNode, secret: str | None):
    """A ``DICOMwebClient`` for ``node`` with its authentication, CA file and timeout."""
    from dicomweb_client import DICOMwebClient

    web = DICOMwebClient(node.url.rstrip("/"), session=session(node, secret), timeout=node.timeout_s)
    web.set_http_retry_params(retry=False)  # its back-off retries would turn a 1 s timeout into half a minute
    return web


def _explain(node: PacsNode, exc: Exception, what: str) -> PacsError:
    import requests

    where = f"{node.name} ({node.url})"
    if isinstance(exc, requests.exceptions.SSLError):
        text = (f"{where}: the TLS certificate is not trusted during {what}. Set the node's CA file to the "
                "certificate authority that signed it.")
    elif isinstance(exc, requests.exceptions.Timeout):
        text = f"{where} did not answer {what} within {node.timeout_s:g} s."
    elif isinstance(exc, requests.exceptions.ConnectionError):
        text = f"{where} cannot be reached for {what}: the connection was refused or dropped."
    elif isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code in (401, 403):
            text = f"{where} refused the credentials (HTTP {code}) for {what}: check the user name and password or token."
        elif code == 404:
            text = f"{where}: nothing found at that address for {what} (HTTP 404): check the DICOMweb URL."
        else:
            text = f"{where} answered {what} with HTTP {code}."
    else:
        text = f"{where}: {what} failed ({type(exc).__name__})."
    return PacsError(text)


def echo(node: PacsNode, secret: str | None) -> None:
    """A one-result QIDO-RS study search: the service answers and accepts the credentials."""
    try:
        client(node, secret).search_for_studies(limit=1)
    except PacsError:
        raise
    except Exception as exc:  # requests, dicomweb-client and JSON errors alike
        raise _explain(node, exc, "a test query") from exc


def qido_query_string(query: StudyQuery, limit: int) -> str:
    """The series search's query string. Wildcards and DICOM separators stay literal: Orthanc 1.10's
    DICOMweb plugin does not percent-decode query values, so ``Roe%2A`` would match nothing; these
    characters are legal in a URL query (RFC 3986 sub-delims) for every other server too."""
    from urllib.parse import quote

    pairs = [f"{key}={quote(value, safe='*?,-.:@^')}" for key, value in query.qido_params().items()]
    pairs += [f"includefield={keyword}" for keyword in RETURN_KEYWORDS] + [f"limit={int(limit)}"]
    return "&".join(pairs)


def find(node: PacsNode, secret: str | None, query: StudyQuery, limit: int = 1000) -> list[SeriesMatch]:
    """QIDO-RS series search (PS3.18 10.6); the study's attributes are asked for with ``includefield``."""
    url = f"{node.url.rstrip('/')}/series?{qido_query_string(query, limit)}"
    try:
        response = session(node, secret).get(url, headers={"Accept": "application/dicom+json"},
                                              timeout=node.timeout_s)
        response.raise_for_status()
        found = response.json() if response.status_code != 204 and response.content else []
    except Exception as exc:  # requests and JSON errors alike
        raise _explain(node, exc, "the query") from exc
    return [SeriesMatch.from_dataset(Dataset.from_json(entry)) for entry in found]


def _encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def retrieve(node: PacsNode, secret: str | None, match: SeriesMatch, folder: Path, *,
             on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> RetrieveResult:
    """WADO-RS of one series, streamed: each instance is checked and stored as it arrives."""
    writer = InstanceWriter(folder)
    writer.discard_parts()
    problems: list[str] = []
    stream = None
    try:
        stream = client(node, secret).iter_series(match.study_uid, match.series_uid)
        for ds in stream:
            if cancel is not None and cancel.cancelled:
                return writer.result(match.n_images, cancelled=True)
            try:
                writer.accept(_encoded(ds))
            except Exception as exc:  # noqa: BLE001 - a dataset that cannot even be re-encoded
                writer.broken += 1
                writer.problems.append(f"an instance could not be read ({type(exc).__name__})")
            if on_progress is not None:
                on_progress(Progress(match.n_images, len(writer.files), f"{len(writer.files)} image(s) received"))
    except Exception as exc:  # noqa: BLE001 - the stream broke: what arrived is kept, the rest reported
        problems.append(str(_explain(node, exc, "the retrieval")))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return writer.result(match.n_images, problems=problems)


def store(node: PacsNode, secret: str | None, paths: list[Path],
          *, on_progress: ProgressCallback | None = None) -> list[str]:
    """STOW-RS of ``paths`` in one request; returns the SOP Instance UIDs the service accepted."""
    datasets = [pydicom.dcmread(p) for p in paths]
    try:
        response = client(node, secret).store_instances(datasets)
    except PacsError:
        raise
    except Exception as exc:
        raise _explain(node, exc, "sending") from exc
    failed = response.get("FailedSOPSequence") or []
    if failed:
        reason = failed[0].get("FailureReason")
        raise PacsError(f"{node.name} refused {len(failed)} of {len(datasets)} object(s)"
                        + (f" (failure reason {int(reason)})." if reason is not None else "."))
    if on_progress is not None:
        on_progress(Progress(len(datasets), len(datasets), f"{len(datasets)} sent"))
    return [str(item.ReferencedSOPInstanceUID) for item in response.get("ReferencedSOPSequence") or []]
